#!/usr/bin/env python3
"""End-to-end test of the dashboard (nginx/dashboard/) in headless Chromium, against a real stack.

    python3 Tests/browser/dashboard_test.py --base-url http://127.0.0.1:PORT [--out DIR]

Tests/browser/run.sh starts the stack (deploy/run.sh) on free ports with a fresh data directory
and runs this. It needs the demo data (Joe Johnson, user-joej, "+1 555-123-4567"; 8 queues) and
the accounts admin/admin, agent/agent and guest/guest. It asserts on the DOM, saves screenshots
to --out, and ends with the line "N passed, M failed" (exit status 1 when anything failed).
"""

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import random
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import axe_selenium_python
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

SEED_COUNT = 10_000
SEED_THREADS = 16
LIVE_UPDATE_LIMIT_S = 10.0
# With pushed events an admin's change must be on an agent's page within this; without them
# (polling the change feed every 3 s) within the poll interval and this much slack.
EVENT_UPDATE_LIMIT_S = 1.0
POLL_INTERVAL_S = 3.0
POLL_SLACK_S = 1.5
# While the event stream is open the page reads the feed on events, and every 30 s as a safety
# net: a responder outage (no commits, so no events) shows within that.
SAFETY_POLL_S = 30.0

# ------------------------------------------------------------------------------------ the API


class Api:
    """The Contacts API over urllib, with basic auth, for setting the scene and checking results."""

    def __init__(self, base_url):
        self.base_url = base_url.rstrip("/")
        parsed = urllib.parse.urlsplit(self.base_url)
        self.host, self.port = parsed.hostname, parsed.port or 80

    @staticmethod
    def auth(user):
        return "Basic " + base64.b64encode(f"{user}:{user}".encode()).decode()

    def call(self, method, path, user="admin", body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", self.auth(user))
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, response.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            return error.code, error.headers, parsed

    def expect(self, status, method, path, **kwargs):
        got, headers, body = self.call(method, path, **kwargs)
        if got != status:
            raise AssertionError(f"{method} {path}: expected HTTP {status}, got {got}: {body}")
        return headers, body

    def create(self, name, phone):
        headers, body = self.expect(201, "POST", "/contacts", body={"name": name, "phoneNumber": phone})
        return body

    def etag(self, contact_id):
        headers, _ = self.expect(200, "GET", f"/contacts/{contact_id}")
        return headers["ETag"]

    def update(self, contact_id, **fields):
        return self.expect(200, "PUT", f"/contacts/{contact_id}", body=fields,
                           headers={"If-Match": self.etag(contact_id)})[1]

    def delete(self, contact_id):
        self.expect(204, "DELETE", f"/contacts/{contact_id}", headers={"If-Match": self.etag(contact_id)})

    def listing(self, query, user="agent"):
        headers, body = self.expect(200, "GET", "/contacts?" + query, user=user)
        return [c["id"] for c in body["contacts"]], int(headers["X-Total-Count"])

    def seed(self, count, threads):
        """POSTs count custom contacts over `threads` keep-alive connections; returns seconds."""
        local = threading.local()
        auth = self.auth("admin")

        def post(index):
            if not hasattr(local, "connection"):
                local.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            body = json.dumps({"name": f"Load Test {index:05d}",
                               "phoneNumber": f"+1 555 7{index // 10000:01d}{index // 100 % 100:02d} {index % 100:02d}00"})
            for attempt in range(3):
                try:
                    local.connection.request("POST", "/contacts", body=body, headers={
                        "Authorization": auth, "Content-Type": "application/json"})
                    response = local.connection.getresponse()
                    response.read()
                    if response.status != 201:
                        raise AssertionError(f"seeding POST answered {response.status}")
                    return
                except (http.client.HTTPException, OSError):
                    local.connection.close()
                    local.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                    if attempt == 2:
                        raise

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
            for future in concurrent.futures.as_completed([pool.submit(post, i) for i in range(count)]):
                future.result()
        return time.monotonic() - started


# ------------------------------------------------------------------------------------ the browser

AXE_SCRIPT = os.path.join(os.path.dirname(axe_selenium_python.__file__), "node_modules", "axe-core", "axe.min.js")

# Records what a tel: link would dial instead of handing it to the (absent) telephony app.
DIAL_HOOK = """
window.__dialed = [];
document.addEventListener('click', (event) => {
  const link = event.target.closest && event.target.closest('a[href^="tel:"]');
  if (link) { event.preventDefault(); window.__dialed.push(link.getAttribute('href')); }
}, true);
window.__samePage = 'never reloaded';
"""


class Browser:
    def __init__(self, base_url, user, out_dir, width=1280, height=900):
        self.base_url, self.user, self.out_dir = base_url, user, out_dir
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={width},{height}", "--lang=en-US", "--no-first-run",
                         "--disable-search-engine-choice-screen"):
            options.add_argument(argument)
        # The performance log carries the DevTools Network events: every request the page makes,
        # counted by listing_requests() (nothing is injected into the page for that).
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(60)
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.seen = []

    def url(self):
        parsed = urllib.parse.urlsplit(self.base_url)
        # Credentials in the URL: Chromium keeps them in its auth cache for the origin, and the
        # page's same-origin fetches reuse them (the page builds its URLs from location.origin).
        return f"{parsed.scheme}://{self.user}:{self.user}@{parsed.netloc}/dashboard/"

    def open(self):
        started = time.monotonic()
        self.driver.get(self.url())
        self.driver.execute_script(DIAL_HOOK)
        return started

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, condition, timeout=10, message="condition"):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}") from None

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def visible(self, css):
        elements = self.driver.find_elements(By.CSS_SELECTOR, css)
        return bool(elements) and elements[0].is_displayed()

    def rows(self):
        """[{id, type, name, phone, href, buttons}] of the rows on screen (not the open form)."""
        return self.js("""
          const results = document.getElementById('results');
          if (results.hidden) return [];
          return [...document.querySelectorAll('#rows tr.row:not(.editing)')].map((row) => ({
            id: row.dataset.id, type: row.dataset.type,
            name: row.querySelector('.name').textContent,
            typeText: row.querySelector('.type').textContent,
            phone: row.querySelector('.col-phone').textContent,
            href: row.querySelector('a.tel') ? row.querySelector('a.tel').getAttribute('href') : null,
            buttons: [...row.querySelectorAll('button')].map((b) => b.textContent),
            selected: row.classList.contains('selected'),
          }));""")

    def row_ids(self):
        return [row["id"] for row in self.rows()]

    def text(self, css):
        return self.find(css).text

    def type_into(self, css, text, clear=True):
        element = self.find(css)
        if clear:
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(Keys.DELETE)
        element.send_keys(text)

    def shot(self, name):
        os.makedirs(self.out_dir, exist_ok=True)
        self.driver.save_screenshot(os.path.join(self.out_dir, f"{name}.png"))

    def requests(self):
        """URLs of the requests the page made since the last call (DevTools Network events in
        Chromium's performance log, which this call drains), accumulated in self.seen."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                request = message["params"]["request"]
                self.seen.append((request["method"], request["url"]))
        return self.seen

    def listing_requests(self):
        """The page's listing requests so far: GET /contacts… other than the change feed and the
        event stream (single contacts, /contacts/{id}, are not listings either)."""
        listings = []
        for method, url in self.requests():
            path = urllib.parse.urlsplit(url).path
            if method == "GET" and path == "/contacts":
                listings.append(url)
        return listings

    def connection(self):
        """The live/polling/offline indicator: (data-mode, visible text, accessible name)."""
        return tuple(self.js("""const c = document.getElementById('connection');
            return [c.dataset.mode, c.textContent.trim(), c.getAttribute('aria-label')];"""))

    def axe_violations(self):
        """axe-core (the copy PyPI's axe-selenium-python ships) run on the page as it is: its
        violations as ["rule (impact): html — summary", …]. execute_script runs through DevTools,
        so the page's CSP (script-src 'self', no inline scripts) does not stop the injection."""
        with open(AXE_SCRIPT, encoding="utf-8") as script:
            self.js(script.read())
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document).then((r) => done(r), (e) => done({error: String(e)}));")
        if "error" in result:
            raise AssertionError(f"axe-core failed: {result['error']}")
        return [f"{v['id']} ({v['impact']}): {n['html']} — {n.get('failureSummary', '')}"
                for v in result["violations"] for n in v["nodes"]]

    def console_errors(self):
        try:
            return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
        except WebDriverException:
            return []

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass


# ------------------------------------------------------------------------------------ checks


class Checks:
    def __init__(self, out_dir):
        self.out_dir, self.passed, self.failed = out_dir, 0, 0

    def run(self, name, function, browser=None):
        started = time.monotonic()
        try:
            function()
        except Exception as error:  # a failed check must not stop the others
            self.failed += 1
            detail = str(error) if isinstance(error, AssertionError) else traceback.format_exc()
            print(f"FAIL {name} ({time.monotonic() - started:.1f} s): {detail}", flush=True)
            if browser is not None:
                try:
                    browser.shot("FAILED-" + "".join(c if c.isalnum() else "-" for c in name))
                except WebDriverException:
                    pass
        else:
            self.passed += 1
            print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)


def equal(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def truthy(value, what):
    if not value:
        raise AssertionError(what)


def letters_suffix(length=8):
    """A random tag without digits: a search with digits in it also matches phone numbers by
    those digits (docs/api.md, q), which would find unrelated contacts."""
    return "".join(random.choice("bcdfghjkmnpqrstvwxz") for _ in range(length))


def range_text(offset, count, total):
    return f"{offset + 1:,}–{offset + count:,} of {total:,}" if count else f"0 of {total:,}"


def agent_checks(checks, api, base_url, out, socket_path):
    browser = Browser(base_url, "agent", out)
    b = browser
    try:
        def loads_in_api_order():
            b.open()
            b.wait(lambda: len(b.rows()) > 0, message="the first rows")
            expected, total = api.listing("limit=100")
            equal(b.row_ids(), expected, "row ids in the API's order")
            equal(b.text("#range"), range_text(0, len(expected), total), "range")
            truthy(not b.visible("#new-contact"), "an agent sees no 'New contact' button")
            truthy(all(set(row["buttons"]) <= {"Copy"} for row in b.rows()), "an agent sees no Edit/Delete buttons")
            equal(b.text("#permissions"), "Read only", "permissions badge")
            joe = next(row for row in b.rows() if row["id"] == "user-joej")
            equal((joe["name"], joe["typeText"], joe["phone"]), ("Joe Johnson", "User", "+1 555-123-4567"), "Joe's row")
            b.shot("agent-1-list")
        checks.run("agent: the list loads in the API's order with name, type and number; no admin controls",
                   loads_in_api_order, b)

        def search_by_phone_digits():
            b.find("#search").click()
            b.type_into("#search", "123-45")
            b.wait(lambda: b.row_ids() == ["user-joej"], message="only Joe Johnson for '123-45'")
            row = b.rows()[0]
            equal(row["href"], "tel:+15551234567", "tel: link")
            equal(b.text("#range"), "1–1 of 1", "range")
            b.shot("agent-2-search-123-45")
        checks.run("agent: searching '123-45' finds Joe Johnson by part of his phone number", search_by_phone_digits, b)

        def keyboard():
            b.js("document.activeElement.blur(); window.__dialed.length = 0;")
            ActionChains(b.driver).send_keys("/").perform()
            equal(b.js("return document.activeElement.id"), "search", "focus after '/'")
            equal(b.find("#search").get_attribute("value"), "123-45", "'/' is not typed into the search")
            ActionChains(b.driver).send_keys(Keys.ARROW_DOWN).perform()
            b.wait(lambda: [r["id"] for r in b.rows() if r["selected"]] == ["user-joej"], message="Joe selected")
            ActionChains(b.driver).send_keys(Keys.ENTER).perform()
            b.wait(lambda: b.js("return window.__dialed.slice()") == ["tel:+15551234567"],
                   message="Enter to follow the tel: link of the selected row")
            b.shot("agent-3-keyboard-selected")
        checks.run("agent: '/' focuses search, ArrowDown selects, Enter dials the selected row", keyboard, b)

        def copy_button():
            origin = base_url.rstrip("/")
            b.driver.execute_cdp_cmd("Browser.grantPermissions", {
                "origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
            b.find('#rows tr[data-id="user-joej"] button.copy').click()
            b.wait(lambda: "Copied +1 555-123-4567" in b.text("#status"), message="the 'Copied' status")
            copied = b.driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "navigator.clipboard.readText().then(done, (e) => done('ERROR ' + e));")
            equal(copied, "+1 555-123-4567", "clipboard content")
        checks.run("agent: 'Copy' puts the number on the clipboard and says so", copy_button, b)

        def filter_queue():
            b.type_into("#search", Keys.ESCAPE, clear=False)
            b.wait(lambda: len(b.rows()) > 1, message="the whole list again after Escape")
            b.find("#filter-Queue").click()
            queues, total = api.listing("type=Queue&limit=100")
            truthy(total > 0, "the demo data has queues")
            b.wait(lambda: b.row_ids() == queues, message=f"exactly the {total} queues")
            truthy(all(row["type"] == "Queue" and row["typeText"] == "Queue" for row in b.rows()), "only Queue rows")
            equal(b.text("#range"), range_text(0, total, total), "range")
            b.shot("agent-4-filter-queue")
            b.find("#filter-User").click()
            both, both_total = api.listing("type=Queue&type=User&limit=100")
            b.wait(lambda: b.row_ids() == both, message="queues and users")
            truthy({row["type"] for row in b.rows()} == {"Queue", "User"}, "Queue and User rows only")
            b.find("#filter-Queue").click()
            b.find("#filter-User").click()
            everything, _ = api.listing("limit=100")
            b.wait(lambda: b.row_ids() == everything, message="all types again")
        checks.run("agent: the Queue filter shows only queues; Queue+User both", filter_queue, b)

        def live_indicator():
            # The event stream is open: the indicator says so in words and in its accessible name.
            b.wait(lambda: b.connection()[0] == "live", timeout=LIVE_UPDATE_LIMIT_S, message="the live indicator")
            mode, text, name = b.connection()
            equal(text, "Live", "the indicator's text")
            truthy(name and name.startswith("Updates: live"), f"the indicator's accessible name, got {name!r}")
            truthy("changes appear as they are made" in b.text("#updated"), "the footer says how the list updates")
        checks.run("agent: with pushed events the page says 'Live' (text and accessible name)", live_indicator, b)

        def accessibility():
            violations = b.axe_violations()
            equal(violations, [], "axe-core violations on the agent's page")
        checks.run("agent: axe-core finds no accessibility violation", accessibility, b)

        def live_update():
            suffix = letters_suffix()
            # An agent has Joe Johnson selected (and focused); contacts arrive above and below.
            b.find('#rows tr[data-id="user-joej"] .col-name').click()
            b.wait(lambda: [r["id"] for r in b.rows() if r["selected"]] == ["user-joej"], message="Joe selected")
            truthy(b.js("return document.activeElement.dataset.id") == "user-joej", "focus on Joe's row")
            times = {}
            posted = time.monotonic()
            contact = api.create(f"Aaron Live {suffix}", "+1 555 0100 x7")
            b.wait(lambda: contact["id"] in b.row_ids(), timeout=EVENT_UPDATE_LIMIT_S,
                   message=f"the contact an admin created to appear within {EVENT_UPDATE_LIMIT_S} s")
            times["create"] = time.monotonic() - posted
            row = next(r for r in b.rows() if r["id"] == contact["id"])
            equal((row["name"], row["type"], row["phone"], row["href"]),
                  (f"Aaron Live {suffix}", "Custom", "+1 555 0100 x7", "tel:+15550100;ext=7"), "the new row")
            b.shot("agent-5-live-update")
            posted = time.monotonic()
            api.update(contact["id"], name=f"Aaron Live {suffix} renamed")
            b.wait(lambda: any(r["id"] == contact["id"] and r["name"].endswith("renamed") for r in b.rows()),
                   timeout=EVENT_UPDATE_LIMIT_S, message=f"the rename to appear within {EVENT_UPDATE_LIMIT_S} s")
            times["rename"] = time.monotonic() - posted
            posted = time.monotonic()
            api.delete(contact["id"])
            b.wait(lambda: contact["id"] not in b.row_ids(), timeout=EVENT_UPDATE_LIMIT_S,
                   message=f"the deleted contact to disappear within {EVENT_UPDATE_LIMIT_S} s")
            times["delete"] = time.monotonic() - posted
            equal(b.js("return window.__samePage"), "never reloaded", "the page was not reloaded")
            equal([r["id"] for r in b.rows() if r["selected"]], ["user-joej"], "Joe is still selected")
            equal(b.js("return document.activeElement.dataset.id"), "user-joej", "focus stayed on Joe's row")
            print("     live update (pushed events): an admin's " + ", ".join(
                f"{what} appeared after {seconds:.2f} s" for what, seconds in times.items()), flush=True)
        checks.run("agent: an admin's create, rename and delete through the API show up within 1 s, "
                   "selection and focus stay", live_update, b)

        def offline_state():
            b.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
                "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
            try:
                b.wait(lambda: b.visible("#state-offline"), timeout=LIVE_UPDATE_LIMIT_S, message="the offline state")
                truthy(len(b.rows()) > 0, "the last list stays on screen while offline")
                b.shot("agent-6-offline")
            finally:
                b.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
                    "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
            b.wait(lambda: not b.visible("#state-offline"), timeout=LIVE_UPDATE_LIMIT_S, message="recovery")
        checks.run("agent: losing the network shows the offline state, and it recovers", offline_state, b)

        def server_error():
            # A real 502 from the real nginx: move the responder's socket away for a moment.
            truthy(os.path.exists(socket_path), f"the responder's socket {socket_path} exists")
            status, _, body = api.call("GET", "/contacts?limit=1", user="agent")
            equal(status, 200, "the API answers before the test")
            os.rename(socket_path, socket_path + ".away")
            try:
                status, _, body = api.call("GET", "/contacts?limit=1", user="agent")
                equal(status, 502, "the API without its responder")
                message = body["error"]["message"]
                # No commit is possible without the responder, so no event comes: the safety-net
                # read of the change feed (every 30 s while live) finds the 502.
                b.wait(lambda: b.visible("#state-error"), timeout=SAFETY_POLL_S + LIVE_UPDATE_LIMIT_S,
                       message="the error state (at the next safety-net read)")
                equal(b.connection()[:2], ("offline", "Offline"), "the indicator")
                truthy(message in b.text("#state-error") and "502" in b.text("#state-error"),
                       f"the API's message and status are shown, got {b.text('#state-error')!r}")
                truthy(len(b.rows()) > 0, "the last list stays on screen")
                b.shot("agent-7-server-error-502")
            finally:
                os.rename(socket_path + ".away", socket_path)
            b.wait(lambda: not b.visible("#state-error"), timeout=LIVE_UPDATE_LIMIT_S, message="recovery")
        checks.run("agent: a 5xx shows the API's error message, and it recovers", server_error, b)

        def phone_layout():
            b.driver.set_window_size(390, 844)
            b.type_into("#search", "johnson")
            matches, _ = api.listing("q=johnson&limit=100")
            b.wait(lambda: b.row_ids() == matches, message="the matches for 'johnson'")
            overflow = b.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            truthy(overflow <= 0, f"no horizontal scrolling on a phone-sized screen (overflow {overflow}px)")
            truthy(b.find('#rows tr[data-id="user-joej"] a.tel').is_displayed(), "the number is visible")
            b.shot("agent-9-phone")
        checks.run("agent: the page fits a phone-sized screen", phone_layout, b)

        def one_listing():
            listings = b.listing_requests()
            feed = [url for _, url in b.seen if urllib.parse.urlsplit(url).path == "/contacts/_changes"]
            print(f"     requests of the agent's page: {len(listings)} listing, {len(feed)} change feed, "
                  f"{sum(1 for _, url in b.seen if url.endswith('/contacts/_events'))} event stream", flush=True)
            equal(len(listings), 1, f"listing requests (GET /contacts…) {listings}")
            truthy("?" not in listings[0], f"the one listing reads the whole directory: {listings[0]}")
        checks.run("agent: one listing request, the first; search, filters, paging and changes need no other",
                   one_listing, b)

        # Failed loads of /contacts (offline, 502 above) are logged by Chromium; nothing else may be.
        errors = [e for e in b.console_errors()
                  if not ("/contacts" in e and ("Failed to load resource" in e or "ERR_INTERNET_DISCONNECTED" in e))]
        checks.run("agent: no errors in the browser console",
                   lambda: equal(errors, [], "console errors"), None)
    finally:
        browser.quit()


def admin_checks(checks, api, base_url, out):
    browser = Browser(base_url, "admin", out)
    b = browser
    suffix = letters_suffix()
    name = f"Dashboard Test {suffix}"
    created = {}
    try:
        def admin_controls():
            b.open()
            b.wait(lambda: len(b.rows()) > 0, message="the first rows")
            truthy(b.visible("#new-contact"), "'New contact' is offered to an admin")
            equal(b.text("#permissions"), "Admin: can edit custom contacts", "permissions badge")
            directory = [r for r in b.rows() if r["type"] in ("Queue", "User")]
            truthy(directory and all(set(r["buttons"]) <= {"Copy"} for r in directory),
                   "queues and users have no Edit/Delete")
            b.shot("admin-1-list")
        checks.run("admin: X-Contacts-Permissions 'read, write' shows admin controls", admin_controls, b)

        def accessibility():
            violations = b.axe_violations()
            b.find("#new-contact").click()
            b.wait(lambda: b.visible("#editor #field-name"), message="the new contact form")
            violations += [f"[new contact form] {v}" for v in b.axe_violations()]
            b.find("#cancel").click()
            b.wait(lambda: not b.js("return !!document.getElementById('editor')"), message="the form to close")
            equal(violations, [], "axe-core violations on the admin's page (list, then with the form open)")
        checks.run("admin: axe-core finds no accessibility violation (the list, and the new contact form)",
                   accessibility, b)

        def create():
            b.find("#new-contact").click()
            b.wait(lambda: b.visible("#editor #field-name"), message="the new contact form")
            equal(b.js("return document.activeElement.id"), "field-name", "focus in the form")
            b.type_into("#field-name", name)
            b.type_into("#field-phoneNumber", "+1 555 0199")
            b.shot("admin-2-new-form")
            b.find("#save").click()
            b.wait(lambda: not b.js("return !!document.getElementById('editor')"), message="the form to close")
            b.wait(lambda: f"Created “{name}”." in b.text("#status"), message="the 'Created' status")
            b.type_into("#search", suffix)
            b.wait(lambda: len(b.rows()) == 1 and b.rows()[0]["name"] == name, message="the new contact in the list")
            row = b.rows()[0]
            equal((row["type"], row["phone"]), ("Custom", "+1 555 0199"), "the new row")
            equal(row["buttons"], ["Copy", "Edit", "Delete"], "a custom contact's buttons")
            _, stored = api.expect(200, "GET", f"/contacts/{row['id']}")
            equal((stored["name"], stored["phoneNumber"], stored["type"]), (name, "+1 555 0199", "Custom"), "stored")
            created["id"] = row["id"]
        checks.run("admin: create a custom contact through the form", create, b)

        def open_editor(contact_id, phone):
            b.find(f'#rows tr[data-id="{contact_id}"] button.edit').click()
            b.wait(lambda: b.visible("#editor #field-phoneNumber")
                   and b.find("#field-phoneNumber").is_enabled()
                   and b.find("#field-phoneNumber").get_attribute("value") == phone,
                   message="the edit form with the stored values")

        def validation_error():
            truthy(created.get("id"), "a contact was created")
            _, expected = api.expect(400, "POST", "/contacts", body={"name": "x", "phoneNumber": "abc"})
            expected_message = next(f["message"] for f in expected["error"]["fields"] if f["field"] == "phoneNumber")
            open_editor(created["id"], "+1 555 0199")
            b.type_into("#field-phoneNumber", "abc")
            b.find("#save").click()
            b.wait(lambda: b.visible("#error-phoneNumber"), message="the phoneNumber error")
            equal(b.text("#error-phoneNumber"), expected_message, "the API's message at the field")
            equal(b.find("#field-phoneNumber").get_attribute("aria-invalid"), "true", "aria-invalid")
            equal(b.find("#field-phoneNumber").get_attribute("aria-describedby"), "error-phoneNumber", "described by")
            truthy(not b.visible("#error-name"), "no error at the name")
            equal(b.js("return document.activeElement.id"), "field-phoneNumber", "focus on the invalid field")
            _, stored = api.expect(200, "GET", f"/contacts/{created['id']}")
            equal(stored["phoneNumber"], "+1 555 0199", "nothing stored")
            b.shot("admin-3-validation-error")
        checks.run("admin: an invalid phone number shows the API's message at the field", validation_error, b)

        def fix_and_save():
            truthy(b.visible("#editor #field-phoneNumber"), "the form is still open")
            b.type_into("#field-name", name + " edited")
            b.type_into("#field-phoneNumber", "+1 555 0200")
            b.find("#save").click()
            b.wait(lambda: not b.js("return !!document.getElementById('editor')"), message="the form to close")
            b.wait(lambda: any(r["id"] == created["id"] and r["name"] == name + " edited"
                               and r["phone"] == "+1 555 0200" for r in b.rows()), message="the edited row")
            _, stored = api.expect(200, "GET", f"/contacts/{created['id']}")
            equal((stored["name"], stored["phoneNumber"]), (name + " edited", "+1 555 0200"), "stored")
            b.shot("admin-4-edited")
        checks.run("admin: fixing the number and saving stores the edit", fix_and_save, b)

        def conflict():
            truthy(created.get("id"), "a contact was created")
            open_editor(created["id"], "+1 555 0200")
            api.update(created["id"], phoneNumber="+1 555 0300")  # someone else, meanwhile
            b.type_into("#field-name", name + " mine")
            b.find("#save").click()
            b.wait(lambda: b.visible("#form-error"), message="the form's error")
            truthy("Someone else changed this contact; reload it" in b.text("#form-error"),
                   f"a clear 412 message, got {b.text('#form-error')!r}")
            truthy(b.visible("#reload-contact"), "a Reload button")
            b.shot("admin-5-conflict-412")
            _, stored = api.expect(200, "GET", f"/contacts/{created['id']}")
            equal(stored["name"], name + " edited", "the other change was not overwritten")
            b.find("#reload-contact").click()
            b.wait(lambda: b.find("#field-phoneNumber").get_attribute("value") == "+1 555 0300"
                   and b.find("#field-name").get_attribute("value") == name + " edited",
                   message="the reloaded values")
            b.find("#cancel").click()
            b.wait(lambda: not b.js("return !!document.getElementById('editor')"), message="the form to close")
        checks.run("admin: saving over someone else's change (412) says so and offers a reload", conflict, b)

        def delete():
            truthy(created.get("id"), "a contact was created")
            b.find(f'#rows tr[data-id="{created["id"]}"] button.delete').click()
            b.wait(lambda: b.visible("#confirm-delete") and b.find("#confirm-delete").is_enabled(),
                   message="the delete confirmation")
            truthy(name in b.text("#editor-title"), "the confirmation names the contact")
            b.shot("admin-6-delete-confirm")
            b.find("#confirm-delete").click()
            b.wait(lambda: created["id"] not in b.row_ids() and not b.js("return !!document.getElementById('editor')"),
                   message="the row to go")
            b.wait(lambda: b.visible("#state-empty"), message="the empty state")
            api.expect(404, "GET", f"/contacts/{created['id']}")
            b.shot("admin-7-deleted-empty")
        checks.run("admin: deleting the contact removes it (and the empty state shows)", delete, b)

        # The 400 and 412 answers above are logged as failed loads; anything else is an error.
        errors = [e for e in b.console_errors()
                  if not ("Failed to load resource" in e and "/contacts" in e)]
        checks.run("admin: no errors in the browser console", lambda: equal(errors, [], "console errors"), None)
    finally:
        if created.get("id"):
            api.call("DELETE", f"/contacts/{created['id']}")
        browser.quit()


def guest_checks(checks, api, base_url, out):
    browser = Browser(base_url, "guest", out)
    b = browser
    try:
        def forbidden():
            b.open()
            b.wait(lambda: b.visible("#state-forbidden"), message="the forbidden state")
            truthy("Forbidden" in b.text("#state-forbidden"), "it says Forbidden")
            truthy("no role" in b.text("#forbidden-detail"), "it carries the API's message")
            equal(b.row_ids(), [], "no rows")
            truthy(not b.visible("#search") and not b.visible("#new-contact"), "no search, no admin controls")
            truthy(not b.visible("#state-loading"), "not stuck loading")
            b.shot("guest-forbidden")
        checks.run("guest: an account without a contacts role sees the forbidden state", forbidden, b)
    finally:
        browser.quit()


def polling_checks(checks, base_url, out):
    """A second stack, started with CONTACTS_EVENTS=off (nginx without nchan): /contacts/_events
    answers 501 and the page polls the change feed every 3 s."""
    api = Api(base_url)
    browser = Browser(base_url, "agent", out)
    b = browser
    try:
        def polling_indicator():
            status, _, body = api.call("GET", "/contacts/_events", user="agent",
                                       headers={"Accept": "text/event-stream"})
            equal((status, body["error"]["code"]), (501, "events_unavailable"), "the events endpoint")
            b.open()
            b.wait(lambda: len(b.rows()) > 0, message="the first rows")
            b.wait(lambda: b.connection()[0] == "polling", timeout=LIVE_UPDATE_LIMIT_S, message="the polling indicator")
            mode, text, name = b.connection()
            equal(text, "Polling", "the indicator's text")
            truthy(name and name.startswith("Updates: polling"), f"the indicator's accessible name, got {name!r}")
            b.shot("polling-1-indicator")
        checks.run("no events: the page says 'Polling' (text and accessible name)", polling_indicator, b)

        def polled_update():
            truthy(b.connection()[0] == "polling", "still polling")
            suffix = letters_suffix()
            limit = POLL_INTERVAL_S + POLL_SLACK_S
            posted = time.monotonic()
            contact = api.create(f"Aaron Polled {suffix}", "+1 555 0101")
            b.wait(lambda: contact["id"] in b.row_ids(), timeout=limit,
                   message=f"the contact an admin created to appear within {limit} s")
            seen = time.monotonic() - posted
            api.delete(contact["id"])
            b.wait(lambda: contact["id"] not in b.row_ids(), timeout=limit,
                   message=f"the deleted contact to disappear within {limit} s")
            print(f"     live update (polling): an admin's new contact appeared after {seen:.2f} s", flush=True)
        checks.run("no events: an admin's change appears within the 3 s poll interval", polled_update, b)

        def conditional_poll():
            # The page polls the change feed with If-None-Match; an unchanged feed answers 304
            # (Resource Timing reports the status the page received).
            b.js("performance.clearResourceTimings()")
            b.wait(lambda: 304 in b.js("""return performance.getEntriesByType('resource')
                     .filter((e) => new URL(e.name).pathname === '/contacts/_changes').map((e) => e.responseStatus)"""),
                   timeout=LIVE_UPDATE_LIMIT_S, message="a 304 answer to the page's poll of the change feed")
            listings = b.listing_requests()
            equal(len(listings), 1, f"listing requests (GET /contacts…) {listings}")
            events = [url for _, url in b.seen if urllib.parse.urlsplit(url).path == "/contacts/_events"]
            print(f"     without events the page tried the stream {len(events)} time(s) and polled the feed "
                  f"{sum(1 for _, url in b.seen if '/contacts/_changes' in url)} times", flush=True)
            # Chromium logs the 501 of each try of the stream as a failed load; nothing else may be.
            errors = [e for e in b.console_errors()
                      if not ("/contacts/_events" in e and "Failed to load resource" in e and "501" in e)]
            equal(errors, [], "console errors")
        checks.run("no events: the change feed is polled with If-None-Match (304 while nothing changed), "
                   "one listing request in all, no console errors", conditional_poll, b)
    finally:
        browser.quit()


def big_list_checks(checks, api, base_url, out):
    seconds = api.seed(SEED_COUNT, SEED_THREADS)
    print(f"     seeded {SEED_COUNT:,} custom contacts in {seconds:.1f} s "
          f"({SEED_COUNT / seconds:,.0f}/s, {SEED_THREADS} connections)", flush=True)
    browser = Browser(base_url, "agent", out)
    b = browser
    try:
        def first_render():
            first_page, total = api.listing("limit=100")
            truthy(total >= SEED_COUNT, f"{total} contacts listed")
            started = b.open()
            b.wait(lambda: len(b.rows()) == 100, timeout=30, message="the first 100 rows")
            wall = time.monotonic() - started
            in_page = b.wait(lambda: b.js("return document.documentElement.dataset.firstRenderMs"),
                             message="the page's first-render mark")
            print(f"first render with {total} contacts: {int(in_page) / 1000:.2f} s "
                  f"(navigation start to the first 100 rows on screen, the whole directory read and "
                  f"indexed, measured in the page; "
                  f"{wall:.2f} s from the test's navigate call)", flush=True)
            equal(b.row_ids(), first_page, "the first page in the API's order")
            equal(b.text("#range"), range_text(0, 100, total), "range")
            truthy(b.find("#next-page").is_enabled() and not b.find("#prev-page").is_enabled(), "paging buttons")
            b.shot("big-1-first-page")
            second_page, _ = api.listing("limit=100&offset=100")
            b.find("#next-page").click()
            b.wait(lambda: b.row_ids() == second_page, message="the second page")
            equal(b.text("#range"), range_text(100, 100, total), "range of page 2")
            truthy(b.find("#prev-page").is_enabled(), "Previous is enabled on page 2")
            b.shot("big-2-second-page")
            b.find("#prev-page").click()
            b.wait(lambda: b.row_ids() == first_page, message="the first page again")
            b.type_into("#search", "Load Test 09999")
            b.wait(lambda: len(b.rows()) == 1 and b.rows()[0]["name"] == "Load Test 09999", message="one match")
            equal(b.text("#range"), "1–1 of 1", "range of the search")
            equal(len(b.listing_requests()), 1, "listing requests: only the first")
        checks.run(f"10,000 contacts: the directory loads once, the first page renders, paging and search "
                   f"work in the page, in the API's order",
                   first_render, b)
    finally:
        browser.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT of the stack's nginx")
    parser.add_argument("--socket", required=True,
                        help="the responder's FastCGI socket (moved away for a moment to get a real 502)")
    parser.add_argument("--only", help="comma-separated groups to run (agent, admin, guest, polling, big); all by default")
    parser.add_argument("--polling-base-url",
                        help="http://127.0.0.1:PORT of a second stack started with CONTACTS_EVENTS=off")
    parser.add_argument("--out", default="test-output/dashboard", help="where screenshots go")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    api = Api(args.base_url)
    checks = Checks(args.out)
    started = time.monotonic()
    groups = (lambda: agent_checks(checks, api, args.base_url, args.out, args.socket),
              lambda: admin_checks(checks, api, args.base_url, args.out),
              lambda: guest_checks(checks, api, args.base_url, args.out),
              lambda: polling_checks(checks, args.polling_base_url, args.out) if args.polling_base_url else
              print("     (no --polling-base-url: the checks without pushed events are skipped)", flush=True),
              lambda: big_list_checks(checks, api, args.base_url, args.out))
    only = set(args.only.split(",")) if args.only else None
    for name, key, group in zip(("agent", "admin", "guest", "no events", "10,000 contacts"),
                                ("agent", "admin", "guest", "polling", "big"), groups):
        if only is not None and key not in only:
            continue
        try:
            group()
        except Exception:  # a browser that does not start, seeding that fails: count it, go on
            checks.failed += 1
            print(f"FAIL the {name} checks could not run:\n{traceback.format_exc()}", flush=True)
    print(f"     browser checks took {time.monotonic() - started:.1f} s; screenshots in {args.out}", flush=True)
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
