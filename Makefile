# clawfleet — build, test and demo entry points. `make test` and `make demo`
# each work alone on a fresh Debian 12 machine as root: they install what is
# missing through `make deps` first.

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
FUZZ_SECONDS ?= 60
PREFIX      ?= /usr/local
DESTDIR     ?=
UNITDIR     ?= /etc/systemd/system
CMAKE_FLAGS ?=

# Every build and test dependency, by Debian package name.
DEB_PACKAGES := build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev \
	libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev \
	libsystemd-dev libcurl4-openssl-dev libnftables-dev libmnl-dev libzstd-dev libgtest-dev libgmock-dev \
	python3 python3-yaml python3-jsonschema \
	systemd iproute2 iputils-ping nftables systemd-container debootstrap zstd qemu-system-x86 genisoimage \
	dnsmasq-base openssl

.PHONY: all deps build build-only test unit asan fuzz tests-unit tests-integration tests-vm \
	asan-build asan-tests fuzz-build fuzz-run demo e2e-contract bench install clean
# Prerequisites run in the order written: the phases of `make test` are sequential.
.NOTPARALLEL:

all: build

# Idempotent: asks apt only for what dpkg says is missing, so a machine that
# has everything needs no network. npm (which fetches Node 24 and openclaw
# for the guest image) counts as present when any npm is on PATH.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: missing packages:$$missing (run as root, or install them)" >&2; exit 1; fi; \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps build-only
build-only:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)
	cmake --build $(BUILD)

# Everything CI runs, phase by phase (tests/phases.sh prints each phase's
# wall time at the end, also when one failed): the packages, the build,
# the unit, integration and vm tiers (ctest label vm, verbose, so its
# scenarios' phase timings show also when they pass), the tests again under
# ASan+UBSan (all but the vm tier, whose guests boot for minutes: neither it
# nor the benchmarks are built there) and the manifest loader under
# libFuzzer for FUZZ_SECONDS. The guest image, and the ASan and fuzzer
# builds (at nice 19, beside the unit and integration tiers, finished
# before the vm tier), are built in the background.
test:
	@MAKE="$(MAKE)" tests/phases.sh

unit: build tests-unit tests-integration tests-vm
# The unit tier's tests are hermetic (fakes, their own temporary files):
# two at a time.
tests-unit:
	ctest --test-dir $(BUILD) --output-on-failure -j2 -L '^unit$$'
tests-integration:
	ctest --test-dir $(BUILD) --output-on-failure -L '^integration$$'
tests-vm:
	ctest --test-dir $(BUILD) --output-on-failure --verbose -L '^vm$$'

asan: deps asan-build asan-tests
asan-build:
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCLAWFLEET_SANITIZE=ON \
	  -DCLAWFLEET_BENCH=OFF -DCLAWFLEET_VM_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN)
asan-tests:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j2 -L '^unit$$'
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -LE '^(vm|unit)$$'

fuzz: deps fuzz-build fuzz-run
fuzz-build:
	CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCLAWFLEET_FUZZ=ON -DCLAWFLEET_TESTS=OFF -DCMAKE_UNITY_BUILD=OFF $(CMAKE_FLAGS)
	cmake --build $(BUILD_FUZZ) --target manifest_fuzzer
fuzz-run:
	tests/fuzz/run.sh $(BUILD_FUZZ)/tests/fuzz/manifest_fuzzer $(FUZZ_SECONDS)

# The main job on a disposable real host: a real systemd booted in nspawn,
# the guest image (built the first time, then cached), `clawfleet plan`,
# `apply` and `status` of examples/demo's two instances, then teardown.
# The guests run the image's contract gateway (a stand-in; the demo says
# so) unless GATEWAY=openclaw: the real one needs 5+ min under emulation.
GATEWAY ?= contract
demo: build
	CLAWFLEET_DEMO_GATEWAY=$(GATEWAY) $(BUILD)/tests/clawfleet_demo

# The vm tier with the image's contract gateway instead of the real
# OpenClaw gateway that `make test` boots: minutes, not twenty.
e2e-contract: build
	CLAWFLEET_E2E_GATEWAY=contract $(BUILD)/tests/clawfleet_vm_tests

# observe() timings against the fakes and (as root) a real systemd booted in
# systemd-nspawn; plan time and executor overhead against a whole fake host;
# the agent's reaction latency and idle cost (a minute).
bench: build
	$(BUILD)/bench/clawfleet_bench
	$(BUILD)/bench/clawfleet_plan_bench
	$(BUILD)/bench/clawfleet_agent_bench

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)
	@units=$$(find units -maxdepth 1 -type f \( -name '*.service' -o -name '*.socket' \) | sort); \
	if [ -n "$$units" ]; then install -d $(DESTDIR)$(UNITDIR) && install -m 0644 $$units $(DESTDIR)$(UNITDIR)/; fi

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
