#!/usr/bin/env bash
# Make sure headless Chromium and its driver are installed for the sample site's browser test
# (Debian packages chromium and chromium-driver; nothing is downloaded by the test itself).
set -u

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "browser: installing chromium and chromium-driver (Debian packages)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null
fi
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
echo "browser: /usr/bin/chromium and /usr/bin/chromedriver are missing (apt-get install chromium chromium-driver)"
exit 1
