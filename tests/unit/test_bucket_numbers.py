"""Bucket rows keep every number exactly in `data`; `value_n` holds what DynamoDB can."""

import json

import pytest

from mqtt_actions.adapters.bucket import bucket_item, dynamo_number


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        pytest.param(30.5, "30.5", id="float"),
        pytest.param(-0.0, "0", id="negative-zero"),
        pytest.param(10**37, str(10**37), id="38-digits-exact"),
        pytest.param(int("9" * 39), "1." + "0" * 37 + "E+39", id="39-nines-round-up"),
        pytest.param(int("1" * 50), "1." + "1" * 37 + "E+49", id="50-digits-rounded-to-38"),
        pytest.param(1e125, "1E+125", id="largest-magnitude"),
        pytest.param(1e126, None, id="overflow"),
        pytest.param(1e300, None, id="far-overflow"),
        pytest.param(1e-130, "1E-130", id="smallest-magnitude"),
        pytest.param(1e-131, None, id="underflow"),
        pytest.param(5e-324, None, id="subnormal"),
        pytest.param(10**5000, None, id="past-python-int-limit"),
    ],
)
def test_dynamo_numbers(value: float, stored: str | None) -> None:
    assert dynamo_number(value) == stored


@pytest.mark.parametrize("value", [int("1" * 50), 1e-200, 1e300])
def test_a_number_dynamodb_cannot_hold_is_kept_exactly_in_data(value: float) -> None:
    item = bucket_item("d", {"variable": "n", "value": value}, traceid="t", index=0, timestamp=0)
    assert json.loads(item["data"]["S"])["value"] == value
    number = item.get("value_n", {}).get("N")
    assert number is None or len(number.replace(".", "").split("E")[0]) <= 38
