"""Every TagoIO SDK call a script may make, and whether it works here: the docs' "Move from
TagoIO" table is rendered from CALLS (`markdown_table`), and a test checks each row against the
objects themselves (a supported call is a method; any other raises UnsupportedCallError)."""

from __future__ import annotations

from typing import Final

SUPPORTED: Final = "supported"
NOT_SUPPORTED: Final = "raises at the call"

# (call as a script writes it, status, what it does here / what to use instead)
CALLS: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "Analysis(params).init(fn)",
        SUPPORTED,
        "hands `fn` to `mqtt_actions.tagoio.handler`; async awaited",
    ),
    ("Analysis.use(fn, params)", SUPPORTED, "as `Analysis(params).init(fn)`"),
    ("context.log(...), print(...)", SUPPORTED, "the function's log and the run's inspector entry"),
    (
        "context.environment, context.token",
        SUPPORTED,
        "`[{key, value}]` from `--env`; the token as given",
    ),
    ("Device(params).sendData(data)", SUPPORTED, "the token's device bucket; `N Data Added`"),
    (
        "Device(params).getData(queryParams)",
        SUPPORTED,
        "variables, groups, ids, qty, skip, ordination, start/end_date (relative too), query",
    ),
    (
        "Device(params).editData(data)",
        SUPPORTED,
        "by `id` from getData: value, unit, group, metadata, location, time",
    ),
    ("Device(params).deleteData(queryParams)", SUPPORTED, "deletes what the same query selects"),
    (
        "Account(params).devices.listDevice(queryObj)",
        SUPPORTED,
        "the device registry: fields, filter (name, id, tags), page, amount; `last_input`",
    ),
    (
        "Account(params).devices.info(deviceID)",
        SUPPORTED,
        "id = the device name; tags, params, created_at, last_input",
    ),
    (
        "Account(params).devices.paramList(deviceID, sentStatus)",
        SUPPORTED,
        "the device's configuration parameters",
    ),
    (
        "Account(params).devices.paramSet(deviceID, configObj, paramID)",
        SUPPORTED,
        "create or change parameters (by id, else key)",
    ),
    (
        "Account(params).devices.tokenList(deviceID, queryObj)",
        SUPPORTED,
        "one delegation token (15 min, this container): stored tokens are hashes",
    ),
    ("Account(params).devices.amount(deviceID)", SUPPORTED, "points in the device's bucket"),
    (
        "Account(params).devices.getDeviceData / sendDeviceData",
        SUPPORTED,
        "as Device.getData / sendData, by device name",
    ),
    ("Account(params).buckets.amount(bucketID)", SUPPORTED, "a bucket is its device here"),
    ("Resources().devices.*", SUPPORTED, "the same as Account(...).devices"),
    ("Utils.envToJson(environment)", SUPPORTED, "`{key: value}`"),
    ("Utils.getTokenByName(account, deviceID)", SUPPORTED, "a delegation token for the device"),
    ("Utils.getDevice(account, deviceID)", SUPPORTED, "`Device` with a delegation token"),
    (
        "Services(params).email.send(email)",
        SUPPORTED,
        "SES from EmailSender; positional or `email=`; `to` comma-separated",
    ),
    ("Services(params).sms.send(sms)", SUPPORTED, "SNS; positional or `sms=`"),
    (
        "Services(params).MQTT.publish(mqtt)",
        SUPPORTED,
        "iot-data Publish; positional or `mqtt=`; `bucket`/`device` not needed",
    ),
    (
        "Services(params).Notification.send(notification)",
        SUPPORTED,
        "an inspector entry of type notification (console: Notifications); e-mailed to NotificationEmail when set",
    ),
    (
        "Services(params).email.send({..., attachment})",
        SUPPORTED,
        "`{archive, filename}` (or a list): the archive text is the file; an SES raw message; the local outbox shows it",
    ),
    ("Services(params).email.send({..., template})", NOT_SUPPORTED, "pass subject and message"),
    ("Services(params).PDF.*", NOT_SUPPORTED, "build the PDF in the analysis with a library"),
    (
        "Services(params).Attachment.*, .console.*, .tagotip.*",
        NOT_SUPPORTED,
        "attach files with email.send; use print",
    ),
    (
        "Account(params).devices.create / edit / delete / tokenCreate ...",
        NOT_SUPPORTED,
        "`mqtt-actions devices create|set|revoke`",
    ),
    (
        "Account(params).info, .profile, .billing, .run, .dashboards, .files, .actions, .analysis, ...",
        NOT_SUPPORTED,
        "no TagoIO account, RUN, dashboards or files here: actions file, `mqtt-actions` commands",
    ),
    (
        "Utils.sendDownlink(...)",
        NOT_SUPPORTED,
        "publish the downlink with Services(...).MQTT.publish",
    ),
    (
        "Device(params).info / getParameters / ...",
        NOT_SUPPORTED,
        "Account(...).devices.info / paramList",
    ),
    ("Network(...)", NOT_SUPPORTED, "no networks or connectors: devices publish JSON"),
)


def markdown_table() -> str:
    rows = ["| SDK call | here | how / instead |", "|---|---|---|"]
    rows += [f"| `{call}` | {status} | {how} |" for call, status, how in CALLS]
    return "\n".join(rows)
