"""A readable device name ("Firefox on Windows") from a user agent, for session lists.

Deliberately tiny: it names the major browsers and systems by the tokens
their user agents carry, checked in an order that resolves the overlaps
(every Chromium browser also says "Chrome/" and "Safari/", Edge and Opera
say "Chrome/", iOS browsers all say "Safari/", Android says "Linux"). A full
parser (``ua-parser``) would name rarer clients too, at the price of a large
regex table loaded into every process; a sessions page needs only enough for
a person to recognise their own devices.
"""

from __future__ import annotations

__all__ = ["device_name"]

# (token in the user agent, name), first match wins: order matters.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
)


def device_name(user_agent: str | None) -> str:
    """ "Browser on System", the browser alone, or the client's first token ("curl")."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser is None:
        # Not a browser (curl, an app's HTTP client): its product token says what it is.
        browser = user_agent.split("/", 1)[0].split(" ", 1)[0][:40] or "Unknown client"
    return f"{browser} on {system}" if system else browser
