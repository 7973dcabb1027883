"""What the members core erases when a membership closes, beyond the user and member rows ``member_close`` clears:
the API's stored idempotent responses that name the member (an enrolment's answer carries the email), and what
the member wrote or an integration noted about them (feedback comments, action references and metadata). Scores
and points stay: the NPS and the ledger still add up."""

from integrations.services import idempotency_records_redact

from .models import ActionOccurrence, FeedbackResponse


def on_member_closed(member, *, former_email: str) -> None:
    idempotency_records_redact(mentioning=[member.member_number, former_email])
    FeedbackResponse.objects.filter(member_id=member.pk).exclude(comment="").update(comment="")
    ActionOccurrence.objects.filter(member_id=member.pk).update(reference="", metadata={})
