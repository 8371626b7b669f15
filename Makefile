# Health Hub: the two commands are `make demo` and `make test` (README.md).
# `make setup` is what both begin with; it is idempotent.

VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
PARTS       := protocol drivers agent fleet provisioning ui
# Debian packages the tests and the demo need: the real broker and its clients; for the
# patient UI a virtual display (xvfb, xauth) with Mesa's GL, HarfBuzz shaping through Pillow
# (libraqm0), the Noto fonts for Urdu, Gurmukhi and Bengali, and espeak-ng to read aloud;
# for the practice dashboard's browser tests a headless Chromium and its WebDriver; and
# PostgreSQL's server binaries (initdb, pg_ctl) for the PostgreSQL practice store's tests;
# systemd for `systemd-analyze verify`/`security` on the units (it need not be running).
APT_PACKAGES := mosquitto mosquitto-clients xvfb xauth libgl1-mesa-dri libraqm0 \
                fonts-noto-core espeak-ng libmtdev1 chromium chromium-driver postgresql systemd
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages demo test lint typecheck-tree bench catalogues clean

setup: system-packages $(STAMP)

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	python3 -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@# Debian starts a system-wide mosquitto on port 1883; we run our own per fleet.
	@# Likewise Debian's postgresql starts a cluster on 5432; tests run their own
	@# (tests/postgres_server.py: initdb in a temp folder, a free loopback port).
	@command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || { echo "mosquitto missing after apt-get"; exit 1; }

$(STAMP): pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/healthhub-demo

# mypy cannot follow setuptools' editable import hook, so it reads the parts
# through a tree of links that mirrors the installed `healthhub.*` names.
typecheck-tree:
	@mkdir -p build/typecheck/healthhub
	@for p in $(PARTS); do ln -sfn ../../../$$p build/typecheck/healthhub/$$p; done

lint: setup typecheck-tree
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(foreach p,$(PARTS),-p healthhub.$(p))

test: lint
	$(PY) -m pytest

bench: setup
	$(PY) bench/outbox_drain.py
	$(PY) bench/ui_latency.py
	$(PY) bench/serial_latency.py
	$(PY) bench/fleet_push.py
	$(PY) bench/bridge_ingest.py

# After adding or changing a text in ui/: rewrite the template, add new texts to every
# catalogue (untranslated until a translator fills them; tests/ui/test_catalogues.py fails
# until then).
catalogues: setup
	$(PY) -m healthhub.ui.messages

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
