"""The adapters an analysis uses on AWS (or the local stack's moto), each built on first use:
an analysis that only publishes never creates a DynamoDB, SNS or Lambda client."""

from __future__ import annotations

from functools import cached_property

from mqtt_actions.adapters.aws import client
from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions.adapters.inspector import DynamoInspector, LoggingInspector
from mqtt_actions.adapters.invoke import LambdaInvoker
from mqtt_actions.adapters.notify import SnsSesNotifier
from mqtt_actions.adapters.publish import IotDataPublisher
from mqtt_actions.adapters.ratelimit import DynamoRateLimiter
from mqtt_actions.ports import AdapterWrappers, InspectorLog, Notifier
from mqtt_actions.settings import AnalysisSettings


class AwsAnalysisPorts:
    """Implements `mqtt_actions.ports.AnalysisPorts`. The services check that the settings they
    need are present before touching an adapter, so these never see an empty table name."""

    def __init__(self, settings: AnalysisSettings, wrappers: AdapterWrappers | None = None) -> None:
        self._settings = settings
        self._wrappers = wrappers or AdapterWrappers()

    @cached_property
    def publisher(self) -> IotDataPublisher:
        return IotDataPublisher(client("iot-data"))

    @cached_property
    def retained(self) -> IotDataPublisher:
        return self.publisher

    @cached_property
    def notifier(self) -> Notifier:
        built = SnsSesNotifier(client("sns"), client("sesv2"), self._settings.email_sender)
        wrap = self._wrappers.notifier
        return built if wrap is None else wrap(built)

    @cached_property
    def rate_limiter(self) -> DynamoRateLimiter:
        return DynamoRateLimiter(self._settings.rate_table, client("dynamodb"))

    @cached_property
    def bucket(self) -> DynamoBucket:
        return DynamoBucket(self._settings.bucket_table, client("dynamodb"))

    @cached_property
    def invoker(self) -> LambdaInvoker:
        return LambdaInvoker(client("lambda"))

    @cached_property
    def inspector(self) -> InspectorLog:
        """The inspector table when the template names one (INSPECTOR_TABLE), else logs only."""
        cfg = self._settings
        if cfg.inspector_table:
            return DynamoInspector(
                cfg.inspector_table, client("dynamodb"), cfg.inspector_retention_days
            )
        return LoggingInspector()
