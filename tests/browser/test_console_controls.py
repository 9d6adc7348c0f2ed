"""A USB webcam in the console (umockdev testbed, the replaying v4l2-ctl):
plugged while the page is open, its tile appears without a reload; an
operator adjusts its controls and the camera gets the value; a viewer is
shown no controls."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from helpers.console_browser import _start_service, _stop_service, sign_in, texts, wait_until
from helpers.udevbed import Bed, FakeV4L2, umockdev_active

USB = "camera0"


@pytest.fixture(scope="module")
def webcams(tmp_path_factory):
    assert umockdev_active(), "run under umockdev-wrapper, as the test commands do"
    v4l2 = FakeV4L2(tmp_path_factory.mktemp("v4l2-ctl-bin"))
    v4l2.set("/dev/video0", "uvc_c920")
    bed = Bed()
    # the testbed is told to the preload of child processes (the service
    # runs under twistd) by the environment they are given
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UMOCKDEV_DIR", bed.testbed.get_root_dir())
        yield bed, v4l2
    bed.close()


@pytest.fixture(scope="module")
def service(webcams, tmp_path_factory):
    """The service scanning the testbed's sysfs (no udev daemon here: poll)."""
    _bed, v4l2 = webcams
    settings = {"discovery": {"mode": "poll", "poll_interval": 0.5, "v4l2_ctl": str(v4l2.executable),
                              "probe_timeout": 3}}
    service = _start_service(tmp_path_factory.mktemp("camservice"), {}, settings)
    try:
        yield service
    finally:
        _stop_service(service)


def _tile(browser):
    found = browser.find_elements(By.CSS_SELECTOR, f'.tile[data-device="{USB}"]')
    return found[0] if found else None


def test_a_webcam_plugged_while_open_appears_and_an_operator_adjusts_it(service, webcams, browser):
    bed, v4l2 = webcams
    sign_in(browser, service, "operator")
    assert _tile(browser) is None
    browser.execute_script("window.__sameDocument = true")
    bed.add_webcam(0)
    tile = wait_until(lambda: _tile(browser), 20, "the webcam's tile")
    wait_until(lambda: "HD Pro Webcam C920" in tile.text, 10, "its name")
    assert browser.execute_script("return window.__sameDocument") is True
    adjust = wait_until(lambda: tile.find_elements(By.CSS_SELECTOR, '[data-action="controls"]:not([disabled])'), 20,
                        "the Adjust button")[0]
    adjust.click()
    slider = wait_until(lambda: (lambda f: f and f[0].is_displayed() and f[0])(
        browser.find_elements(By.ID, f"ctl-{USB}-brightness")), 10, "the brightness slider")
    assert (slider.get_attribute("min"), slider.get_attribute("max"), slider.get_attribute("value")) == ("0", "255", "128")
    # a control decided automatically is shown but cannot be moved
    assert browser.find_element(By.ID, f"ctl-{USB}-white_balance_temperature").get_attribute("disabled")
    browser.execute_script(
        "arguments[0].value = 200; arguments[0].dispatchEvent(new Event('input'));"
        "arguments[0].dispatchEvent(new Event('change'));", slider)
    wait_until(lambda: v4l2.control_values("/dev/video0").get("brightness") == 200, 10, "the camera set to 200")
    value = slider.find_element(By.XPATH, "following-sibling::span[@class='val']")
    wait_until(lambda: value.get_attribute("textContent") == "200", 10, "the value shown")
    assert texts(browser, ".toast.error") == []


def test_a_viewer_is_shown_no_camera_controls(service, webcams, browser):
    bed, _v4l2 = webcams
    if not bed.plugged(0):  # this test alone
        bed.add_webcam(0)
    sign_in(browser, service, "viewer")
    tile = wait_until(lambda: _tile(browser), 20, "the webcam's tile")
    wait_until(lambda: "HD Pro Webcam C920" in tile.text, 10, "its name")
    assert not tile.find_elements(By.CSS_SELECTOR, '[data-action="controls"]')
    assert not browser.find_elements(By.CSS_SELECTOR, f'[id^="ctl-{USB}-"]')
