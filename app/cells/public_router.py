"""The public certificate check (the QR code on a plaque): no token, nothing personal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from app.cells import repository, service
from app.cells.schemas import CertificateStatus, PublicCertificate
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.openapi import problem_responses
from app.core.periods import today_in_shanghai
from app.core.routing import ApiRoute
from app.core.timeutil import utcnow

router = APIRouter(prefix="/public", tags=["public"], route_class=ApiRoute,
                   dependencies=[Depends(service.observe_expiry)])


@router.get("/certificates/{certificate_no}", response_model=PublicCertificate, operation_id="checkCertificate",
            openapi_extra={"security": []}, responses=problem_responses(404, 422, 503, public=True))
async def check_certificate(
    certificate_no: Annotated[str, Path(max_length=32, description="Certificate number (证书编号) as printed on the "
                                                                   "plaque, e.g. `XM-WF-2026-SCH-0001`; an unknown "
                                                                   "number answers 404.")],
    session: SessionDep,
) -> PublicCertificate:
    """Public check of a certificate number: the cell's name and type, and whether the certificate is
    `certified` (valid), `expired` (after `valid_until`, Asia/Shanghai) or `revoked`. Old numbers of a
    re-certified cell keep answering with their own status."""
    found = await repository.get_certificate(session, certificate_no)
    if found is None:
        raise NotFound(entity="certificate", id=certificate_no)
    certificate, cell = found
    status: CertificateStatus
    if certificate.revoked_at is not None:
        status = "revoked"
    elif certificate.valid_until < today_in_shanghai(utcnow()):
        status = "expired"
    else:
        status = "certified"
    return PublicCertificate(certificate_no=certificate.certificate_no, name=cell.name, type=cell.type,
                             status=status, certified_at=certificate.certified_at,
                             valid_until=certificate.valid_until)
