"""What the members core erases when a membership closes, beyond the user and member rows ``member_close`` clears:
the API's stored idempotent responses that name the member (an enrolment's answer carries the email)."""

from integrations.services import idempotency_records_redact


def on_member_closed(member, *, former_email: str) -> None:
    idempotency_records_redact(mentioning=[member.member_number, former_email])
