import mqtt_actions


def test_package_imports_without_aws() -> None:
    assert mqtt_actions.__doc__
