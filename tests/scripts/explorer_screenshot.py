"""Screenshot of the explorer page (``docs/explorer.png`` in the README) in headless Chromium.

    python tests/scripts/explorer_screenshot.py MODEL_BASE OUT.png [--class-id 3] [--truncation 0.6]

Serves MODEL_BASE (``keras-gans export --out``) on free loopback ports, opens ``/explore``, picks
the class and truncation, draws an interpolation between seeds 1 and 2, and saves the window.
Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium`` (the test extra).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helpers.browser import chromium_driver, wait  # noqa: E402

IDLE = "return document.body.dataset.busy === '0'"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_base")
    parser.add_argument("out")
    parser.add_argument("--class-id", type=int, default=3)
    parser.add_argument("--truncation", type=float, default=0.6)
    args = parser.parse_args()
    from keras_gans.serving.server import ModelServer

    server = ModelServer(args.model_base, rest_port=0, grpc_port=-1, poll_seconds=0)
    server.start()
    server.wait_until_ready(300)
    browser = chromium_driver(window="1280,900")
    try:
        browser.get(server.rest_url + "/explore")
        wait(browser, IDLE + " && window.kgExplorer.lastGrid")
        browser.execute_script("document.getElementById('zoom').value = '64';"
                               "document.getElementById('zoom').dispatchEvent(new Event('input'));"
                               "const c = document.getElementById('class'); c.value = arguments[0];"
                               "c.dispatchEvent(new Event('change'));"
                               "const r = document.getElementById('truncation'); r.value = arguments[1];"
                               "r.dispatchEvent(new Event('input'));"
                               "document.getElementById('num').value = '32';"
                               "document.getElementById('seedA').value = '1';"
                               "document.getElementById('seedB').value = '2';"
                               "document.getElementById('frames').value = '12';",
                               str(args.class_id), str(args.truncation))
        wait(browser, IDLE + " && window.kgExplorer.lastGrid.inputs.truncation === " + str(args.truncation))
        browser.execute_script("document.getElementById('draw').click()")
        wait(browser, IDLE + " && window.kgExplorer.lastGrid.inputs.num === 32")
        browser.execute_script("document.getElementById('interpolate').click()")
        wait(browser, IDLE + " && window.kgExplorer.lastInterpolation")
        browser.save_screenshot(args.out)
        print(args.out)
    finally:
        browser.quit()
        server.stop()


if __name__ == "__main__":
    main()
