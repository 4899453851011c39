"""Device tags and configuration parameters (mqtt_actions.device_profiles): parsing the command
line's KEY=VALUE, applying a change, TagoIO's shapes."""

from __future__ import annotations

import pytest

from mqtt_actions.device_profiles import (
    KEY_MAX,
    TAGS_MAX,
    VALUE_MAX,
    DeviceParam,
    DeviceProfile,
    DeviceProfileError,
    DeviceUpdate,
    apply_update,
    parse_pairs,
)


@pytest.mark.parametrize(
    ("texts", "pairs"),
    [
        (["type=temp"], (("type", "temp"),)),
        (["url=a=b"], (("url", "a=b"),)),  # the first = splits
        (["empty="], (("empty", ""),)),
        (["k=1", "k=2"], (("k", "2"),)),  # the last one given wins
        (["a=1", "b=2"], (("a", "1"), ("b", "2"))),
    ],
)
def test_key_value_pairs(texts: list[str], pairs: tuple[tuple[str, str], ...]) -> None:
    assert parse_pairs("--tag", texts) == pairs


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("novalue", "--tag 'novalue': write KEY=VALUE"),
        ("=x", "--tag: the key is empty"),
        (" k=x", "spaces around it"),
        ("k=a\nb", "control characters"),
        ("k" * (KEY_MAX + 1) + "=x", f"at most {KEY_MAX}"),
        ("k=" + "v" * (VALUE_MAX + 1), f"at most {VALUE_MAX}"),
    ],
)
def test_bad_pairs_name_the_option_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(DeviceProfileError, match="--tag") as caught:
        parse_pairs("--tag", [text])
    assert says in str(caught.value)


def test_update_sets_replaces_and_removes_by_key_in_tagoio_shapes() -> None:
    start = DeviceProfile("s1", tags=(("type", "temp"), ("site", "a")))
    changed = apply_update(
        start,
        DeviceUpdate(
            set_tags=(("site", "b"), ("floor", "2")),
            remove_tags=("type",),
            set_params=(("interval", "60"),),
        ),
        now_ms=5,
        new_id=iter(["p1"]),
    )
    assert changed.tags_list() == [{"key": "site", "value": "b"}, {"key": "floor", "value": "2"}]
    assert changed.params_list() == [{"id": "p1", "key": "interval", "value": "60", "sent": False}]
    assert changed.updated_at == 5
    assert changed.tag("site") == "b"
    assert changed.tag("type") is None


def test_a_parameter_keeps_its_id_and_is_unsent_again_only_when_its_value_changes() -> None:
    start = DeviceProfile(
        "s1",
        params=(
            DeviceParam("p1", "interval", "60", sent=True),
            DeviceParam("p2", "x", "1", sent=True),
        ),
    )
    changed = apply_update(
        start,
        DeviceUpdate(set_params=(("interval", "30"), ("x", "1"))),
        now_ms=1,
        new_id=iter([]),
    )
    assert changed.params == (
        DeviceParam("p1", "interval", "30", sent=False),
        DeviceParam("p2", "x", "1", sent=True),
    )


def test_removing_an_unknown_key_is_refused_and_says_what_there_is() -> None:
    with pytest.raises(DeviceProfileError, match=r"--untag 'nope'.*it has: site"):
        apply_update(
            DeviceProfile("s1", tags=(("site", "a"),)),
            DeviceUpdate(remove_tags=("nope",)),
            now_ms=1,
            new_id=iter([]),
        )


def test_too_many_tags_are_refused() -> None:
    many = tuple((f"k{n}", "v") for n in range(TAGS_MAX + 1))
    with pytest.raises(DeviceProfileError, match=f"at most {TAGS_MAX}"):
        apply_update(DeviceProfile("s1"), DeviceUpdate(set_tags=many), now_ms=1, new_id=iter([]))


def test_settings_of_other_features_are_set_and_removed_by_name() -> None:
    with_parser = apply_update(
        DeviceProfile("s1"), DeviceUpdate(extra={"parser": "code"}), now_ms=1, new_id=iter([])
    )
    assert with_parser.extra == {"parser": "code"}
    assert with_parser.as_dict()["extra"] == {"parser": "code"}
    without = apply_update(
        with_parser, DeviceUpdate(extra={"parser": None}), now_ms=2, new_id=iter([])
    )
    assert without.extra == {}
    with pytest.raises(DeviceProfileError, match="setting name 'Bad-Name'"):
        apply_update(
            DeviceProfile("s1"), DeviceUpdate(extra={"Bad-Name": "x"}), now_ms=1, new_id=iter([])
        )
