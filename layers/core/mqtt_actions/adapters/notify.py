"""SMS through SNS, e-mail through SES v2."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING

from mqtt_actions.ports import EmailAttachment

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import BodyTypeDef
    from mypy_boto3_sns import SNSClient


class SnsSesNotifier:
    def __init__(self, sns: SNSClient, sesv2: SESV2Client, sender: str) -> None:
        self._sns = sns
        self._ses = sesv2
        self._sender = sender

    def send_sms(self, to: str, message: str) -> str:
        response = self._sns.publish(
            PhoneNumber=to,
            Message=message,
            MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
            },
        )
        return str(response["MessageId"])

    def send_email_attachments(
        self,
        to: Sequence[str],
        subject: str,
        text: str | None,
        html: str | None,
        attachments: Sequence[EmailAttachment],
    ) -> str:
        """One MIME message with the files attached, sent raw (SESv2 SendEmail Content.Raw)."""
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self._sender
        message["To"] = ", ".join(to)
        if text is not None:
            message.set_content(text)
            if html is not None:
                message.add_alternative(html, subtype="html")
        elif html is not None:
            message.set_content(html, subtype="html")
        for attachment in attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            message.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        response = self._ses.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": list(to)},
            Content={"Raw": {"Data": message.as_bytes()}},
        )
        return str(response["MessageId"])

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str:
        body: BodyTypeDef = {}
        if text is not None:
            body["Text"] = {"Data": text, "Charset": "UTF-8"}
        if html is not None:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        response = self._ses.send_email(
            FromEmailAddress=self._sender,
            Destination={"ToAddresses": list(to)},
            Content={"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}},
        )
        return str(response["MessageId"])
