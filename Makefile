# SPDX-License-Identifier: MIT
# Wrapper around CMake for the two README commands. `make demo` and `make check` install the
# Debian packages they need when run as root (after apt-get update), otherwise they print the
# apt-get line to run.
BUILD    ?= build
CMAKE_FLAGS ?=
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

# Debian packages the build and the tests need; each paired with a file that proves it is there.
DEPS := cmake:/usr/bin/cmake gcc:/usr/bin/gcc make:/usr/bin/make \
	libcmocka-dev:/usr/include/cmocka.h pkg-config:/usr/bin/pkg-config

.PHONY: all deps build demo check clean

all: build

deps:
	@missing=""; for d in $(DEPS); do pkg=$${d%%:*}; file=$${d#*:}; \
	  [ -e "$$file" ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing packages; run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/kalloc-demo

check: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)
