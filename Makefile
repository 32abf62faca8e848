# Kumo - top-level entry points. The build itself is Meson + Ninja; this file
# only names the common tasks.
#
#   make up        install deps, build, configure, start Kumo, write openrc files
#   make down      stop the Kumo started by `make up`
#   make check     everything CI runs: ASan/UBSan unit tests (SQLite and MariaDB),
#                  integration tests with the real openstack CLI, fuzzing, Tempest
#   make build     release-ish build in build/
#   make test      unit tests only, ASan/UBSan build in build-asan/
#   make fuzz      build the libFuzzer targets (build-fuzz/) and run each briefly
#   make tempest   Tempest identity tests against a kumo of its own
#   make bench     wrk benchmarks of Identity (bench/identity/run.sh)
#   make deps      install the Debian packages only
#   make clean     remove the build directories

SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help up down check build test fuzz tempest bench deps clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

deps:
	bash tools/install-deps.sh

up:
	bash tools/up.sh

down:
	bash tools/down.sh

check:
	bash tools/check.sh

build:
	@[ -f build/build.ninja ] || meson setup build --buildtype debugoptimized
	ninja -C build

test:
	CHECK_STEPS=unit bash tools/check.sh

fuzz:
	CHECK_STEPS=fuzz bash tools/check.sh

tempest:
	CHECK_STEPS=tempest bash tools/check.sh

bench:
	bash bench/identity/run.sh

clean:
	rm -rf build build-asan build-fuzz
