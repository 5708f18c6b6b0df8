# dmrec build. `make record` builds and starts recording; `make test` runs
# every test, the QEMU VM scenarios included; both install what they need
# first (scripts/install-deps, and test/vm/vm.sh for the VM).
SHELL := /bin/bash
# Root's tools (ldconfig, depmod, bpftool) even from a PATH without sbin.
export PATH := $(PATH):/usr/sbin:/sbin
BUN := node_modules/.bin/bun
BPF_SRC := bpf/dmrec.bpf.c bpf/dmrec.h bpf/vmlinux.h
# One object per architecture, both from the same sources, both embedded.
BPF_OBJS := bpf/dmrec.bpf.o bpf/dmrec.arm64.bpf.o
BPF_STAMP := bpf/dmrec.bpf.o.sha256
BPF_CFLAGS := -g -O2 -mcpu=v3 -Wall -target bpf -Ibpf
# make build ARCH=arm64: an aarch64 executable (Bun fetches its runtime for that target).
ARCH ?= x86_64
ifeq ($(ARCH),arm64)
DMREC := dist/dmrec-arm64
else
DMREC := dist/dmrec
endif
SRC := $(shell find src -name '*.ts') package.json
HELPERS := build/dm_call build/dm_call-static
TEST_TIMEOUT_MS := 300000

.PHONY: all build deps bpf bpf-check record test test-unit test-vm test-vm-arm64 vm-smoke bench typecheck clean man completions install deb
PREFIX ?= /usr/local

all: build

build: deps bpf-check $(DMREC)

deps:
	@scripts/install-deps

# The objects are committed so building needs no clang. Their stamp is the
# hash of their sources: when they change, clang rebuilds them, or the build stops.
bpf-check:
	@want=$$(cat $(BPF_SRC) | sha256sum | cut -d' ' -f1); \
	have=$$(cat $(BPF_STAMP) 2>/dev/null); \
	if [ "$$want" != "$$have" ]; then \
	  if command -v clang >/dev/null; then $(MAKE) --no-print-directory bpf; \
	  else echo "bpf/dmrec.bpf.o and bpf/dmrec.arm64.bpf.o are older than their sources and clang is not installed (apt-get install clang)" >&2; exit 1; fi; \
	fi

bpf:
	clang $(BPF_CFLAGS) -D__TARGET_ARCH_x86 -c bpf/dmrec.bpf.c -o bpf/dmrec.bpf.o
	clang $(BPF_CFLAGS) -D__TARGET_ARCH_arm64 -c bpf/dmrec.bpf.c -o bpf/dmrec.arm64.bpf.o
	cat $(BPF_SRC) | sha256sum | cut -d' ' -f1 > $(BPF_STAMP)

# zstd-codec (WebAssembly zstd) serves only a runtime without zstd in node:zlib, which the
# Bun inside the executable is not: left out, it took 5.5 MB of each of the two bundles
# (main and worker), 8 MiB of a recorder's memory and 30 ms of every start.
COMPILE = $(BUN) build --compile --external 'zstd-codec' --external 'zstd-codec/*'

dist/dmrec: $(SRC) $(BPF_OBJS)
	@mkdir -p dist
	$(COMPILE) src/main.ts src/query/scan_worker.ts --outfile $@

dist/dmrec-arm64: $(SRC) $(BPF_OBJS)
	@mkdir -p dist
	$(COMPILE) --target=bun-linux-arm64 src/main.ts src/query/scan_worker.ts --outfile $@

build/%: test/helpers/%.c
	@mkdir -p build
	gcc -O2 -Wall -Werror -pthread -o $@ $<

# Static build of the delete_module helper for the QEMU VM (test/vm), whose
# initramfs has no shared libraries besides dmrec's.
build/dm_call-static: test/helpers/dm_call.c
	@mkdir -p build
	gcc -static -O2 -Wall -Werror -pthread -o $@ $<

# The same for the arm64 VM (test/vm/vm.sh installs the cross compiler).
build/dm_call-static-arm64: test/helpers/dm_call.c
	@mkdir -p build
	aarch64-linux-gnu-gcc -static -O2 -Wall -Werror -pthread -o $@ $<

record: build
	dist/dmrec record

typecheck: deps
	node_modules/.bin/tsc -p . --noEmit

test-unit: deps
	$(BUN) test --timeout $(TEST_TIMEOUT_MS) test/unit

test: build dist/dmrec-arm64 $(HELPERS) typecheck deb
	$(BUN) test --timeout $(TEST_TIMEOUT_MS)

# SPEC.md's performance targets beside their baselines (bare syscall, auditd), as root.
bench: build $(HELPERS)
	$(BUN) bench/run.ts

# The man page and the completion scripts come from the executable's own
# option definitions (its --help, yargs' completion).
man: dist/dmrec.1
dist/dmrec.1: dist/dmrec scripts/man.ts
	$(BUN) scripts/man.ts dist/dmrec > $@

completions: dist/completions/dmrec.bash dist/completions/_dmrec
dist/completions/dmrec.bash: dist/dmrec
	@mkdir -p dist/completions
	SHELL=/bin/bash dist/dmrec completion > $@
dist/completions/_dmrec: dist/dmrec
	@mkdir -p dist/completions
	SHELL=/bin/zsh dist/dmrec completion > $@

# make deb (ARCH=arm64: the arm64 one): dist/dmrec_VERSION_ARCH.deb, with the systemd
# unit and its defaults (scripts/deb.sh, packaging/).
DEB_ARCH := $(if $(filter arm64,$(ARCH)),arm64,amd64)
VERSION := $(shell sed -n 's/^  "version": "\([^"]*\)",$$/\1/p' package.json)
DEB := dist/dmrec_$(VERSION)_$(DEB_ARCH).deb
deb: $(DEB)
$(DEB): $(DMREC) dist/dmrec.1 dist/completions/dmrec.bash dist/completions/_dmrec scripts/deb.sh $(wildcard packaging/*)
	scripts/deb.sh $(DEB_ARCH) $(DMREC)

install: build man completions
	install -D -m 0755 dist/dmrec $(DESTDIR)$(PREFIX)/bin/dmrec
	install -D -m 0644 dist/dmrec.1 $(DESTDIR)$(PREFIX)/share/man/man1/dmrec.1
	install -D -m 0644 dist/completions/dmrec.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/dmrec
	install -D -m 0644 dist/completions/_dmrec $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_dmrec

clean:
	rm -rf dist build

# Scenarios in a QEMU VM running Debian's kernel, with modules and kprobes
# (test/vm/README.md). The kernel and base initramfs are cached outside the
# tree, in /var/cache/dmrec-vm (DMREC_VM_CACHE).
# test-vm runs them on both architectures, test-vm-arm64 on arm64 only.
test-vm: build dist/dmrec-arm64 $(HELPERS)
	$(BUN) test --timeout $(TEST_TIMEOUT_MS) test/vm

test-vm-arm64: build dist/dmrec-arm64 $(HELPERS)
	$(BUN) test --timeout $(TEST_TIMEOUT_MS) ./test/vm/arm64_vm.test.ts

# What the VM offers, and a recording there, without assertions: for debugging.
vm-smoke: build $(HELPERS)
	test/vm/vm.sh test/vm/smoke.sh build/vm/smoke
