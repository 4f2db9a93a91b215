# tmprov — plain GNU Makefile. `make check` installs what it needs, builds and tests.
# SANITIZE=1 builds everything with ASan+UBSan into build-san/ (programs in build-san/bin);
# SANITIZE=thread with ThreadSanitizer into build-tsan/.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS    := rdkafka libcurl jansson libxml-2.0 libpq libmicrohttpd libsodium libsystemd gnutls

ifeq ($(SANITIZE),1)
BUILD   := build-san
BIN     := build-san/bin
SANFLAGS:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),thread)
BUILD   := build-tsan
BIN     := build-tsan/bin
SANFLAGS:= -fsanitize=thread -fno-omit-frame-pointer
else
BUILD   := build
BIN     := bin
SANFLAGS:=
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) $(SANFLAGS) \
           -DTMPROV_VERSION='"$(VERSION)"'
# The plain build writes each function's frame size beside its object (BUILD/x/y.su), which
# tests/layout/check_stack.py holds the worker's parked commands to.
CFLAGS  += $(if $(SANFLAGS),,-fstack-usage)
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)
# The version is compiled into tm_client.o (User-Agent), config.o and every main.o (--version); they
# depend on a stamp that is rewritten only when the version changes, so they never keep an old one.
VERSION_STAMP := $(BUILD)/version.stamp
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(VERSION_STAMP) 2>/dev/null)" = '$(VERSION)' ] || \
	echo '$(VERSION)' > $(VERSION_STAMP); })

COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libtmprov.a

# Each program is a library plus a main: every .c of its folder but main.c goes into its archive
# $(BUILD)/lib/NAME.a, which tests link; the program links main.o, its archive, the archives of
# the programs it uses (USES_NAME) and libtmprov.a.
PROGRAMS := tmprov:tools/cli tmprov-worker:workers/worker tmprov-callback:workers/callback \
            tmsim:tools/tmsim tmprov-devkafka:tools/devkafka tmprov-bench:tools/bench
prog_name  = $(word 1,$(subst :, ,$(1)))
prog_dir   = $(word 2,$(subst :, ,$(1)))
prog_lib   = $(BUILD)/lib/$(1).a
USES_tmprov-bench := tmprov-worker tmprov-callback
# tmprov resolve writes account.created as the worker does (workers/worker/outcome.c).
USES_tmprov := tmprov-worker
PROG_NAMES := $(foreach p,$(PROGRAMS),$(call prog_name,$(p)))
PROG_BINS  := $(PROG_NAMES:%=$(BIN)/%)
PROG_LIBS  := $(foreach n,$(PROG_NAMES),$(call prog_lib,$(n)))
PROG_SRC   := $(foreach p,$(PROGRAMS),$(wildcard $(call prog_dir,$(p))/*.c))
# What `make install` puts on a production host; the rest are development tools.
INSTALL_PROGS  := tmprov tmprov-worker tmprov-callback
DEVTOOL_PROGS  := tmsim tmprov-devkafka tmprov-bench

SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
SUPPORT_LIB := $(BUILD)/lib/testsupport.a
# tests/unit: no server, no child process, seconds; tests/integration: the real stack;
# tests/fault: the fault matrix of issue 11 on the real stack, one line per row.
UNIT_SRC    := $(sort $(wildcard tests/unit/test_*.c))
INTEG_SRC   := $(sort $(wildcard tests/integration/test_*.c))
FAULT_SRC   := $(sort $(wildcard tests/fault/test_*.c))
UNIT_BINS   := $(UNIT_SRC:%.c=$(BUILD)/%)
INTEG_BINS  := $(INTEG_SRC:%.c=$(BUILD)/%)
FAULT_BINS  := $(FAULT_SRC:%.c=$(BUILD)/%)
TEST_BINS   := $(UNIT_BINS) $(INTEG_BINS) $(FAULT_BINS)

MAN_PAGES := $(sort $(wildcard man/*.[18]))

FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 60

# Quiet build lines; `make V=1` shows the full commands.
ifeq ($(V),1)
say :=
else
say = @echo "  $(1)	$(2)";
endif

.PHONY: all check unit unit-check demo up down image bench fuzz clean install install-devtools deps \
        deps-demo deps-bench deps-fuzz format format-check man symbols-check tests
.DELETE_ON_ERROR:
.SECONDARY:

all: $(PROG_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/common/tm_client.o $(BUILD)/common/config.o $(foreach p,$(PROGRAMS),$(BUILD)/$(call prog_dir,$(p))/main.o): \
	$(VERSION_STAMP)

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(SUPPORT_LIB): $(SUPPORT_SRC:%.c=$(BUILD)/%.o)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

define PROGRAM_RULE
$(call prog_lib,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(2)/main.c,$(wildcard $(2)/*.c)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(call say,AR,$$@)ar rcs $$@ $$^

$(BIN)/$(1): $(BUILD)/$(2)/main.o $(call prog_lib,$(1)) $(foreach u,$(USES_$(1)),$(call prog_lib,$(u))) $(LIB)
	@mkdir -p $(BIN)
	$$(call say,LD,$$@)$(CC) $(LDFLAGS) -o $$@ $$< -Wl,--start-group $$(filter %.a,$$^) -Wl,--end-group $(LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULE,$(call prog_name,$(p)),$(call prog_dir,$(p)))))

# A test links its object, the test support archive, every program's archive and libtmprov.a;
# the linker takes from the archives only what the test uses.
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(SUPPORT_LIB) $(PROG_LIBS) $(LIB)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group \
	  $(LDLIBS) -lcmocka $(TEST_LIBS)

# libyaml: tests/unit/test_dlqdef.c reads schemas/asyncapi.yaml.
TEST_LIBS := $(shell pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)

tests: $(TEST_BINS)

# No two programs (nor libtmprov.a) may define the same external symbol: a test links them all.
symbols-check: $(PROG_LIBS) $(LIB)
	@dups=$$(for a in $^; do nm -g --defined-only $$a | awk 'NF == 3 { print $$3 }' | sort -u; done \
	  | sort | uniq -d); \
	if [ -n "$$dups" ]; then echo "symbols-check: defined in more than one archive:"; \
	  echo "$$dups"; exit 1; fi; echo "symbols-check: ok"

# The Debian packages each command needs (tools/install-deps.sh says which): make check the
# build and test tasks; make demo and make up the build and demo tasks; make bench build and bench.
deps:
	@tools/install-deps.sh build test

deps-demo:
	@tools/install-deps.sh build demo

deps-bench:
	@tools/install-deps.sh build bench

deps-fuzz:
	@tools/install-deps.sh fuzz

# The README's test command. Starts its own PostgreSQL, tmprov-devkafka and tmsim.
check: deps
	$(MAKE) all tests
	$(MAKE) format-check symbols-check
	BIN=$(BIN) BUILD=$(BUILD) tests/run-tests

# The unit tests alone: no server, no child process, a few seconds.
unit: $(UNIT_BINS)
	BIN=$(BIN) BUILD=$(BUILD) tests/run-tests unit

# The tests with the current build flags; under a sanitizer (CI: SANITIZE=1) without the fault
# matrix, whose timed rows are sized for the optimised build that make check runs it on.
unit-check: all tests
	BIN=$(BIN) BUILD=$(BUILD) tests/run-tests $(if $(SANITIZE),nofault)

demo: deps-demo
	$(MAKE) all
	tools/demo.sh

up: deps-demo
	$(MAKE) all
	tools/demo.sh up

down:
	tools/demo.sh down

# The container image of docker-compose.yml, built with this tree's version (the build context
# has no .git to ask).
image:
	TMPROV_VERSION=$(VERSION) docker compose build

bench: deps-bench
	$(MAKE) all
	tools/bench/bench.sh

build-fuzz/%: tests/fuzz/%.c $(COMMON_SRC)
	@mkdir -p build-fuzz
	clang -std=c11 -g -O1 -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	  -o $@ $< $(COMMON_SRC) $(LDLIBS)

fuzz: deps-fuzz
	$(MAKE) $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  mkdir -p build-fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -dict=tests/fuzz/$$n.dict \
	      build-fuzz/corpus-$$n tests/fuzz/corpus/$$n || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@out=$$(for f in $$(git ls-files '*.c' '*.h'); do clang-format --dry-run --Werror $$f 2>&1 >/dev/null || echo $$f; done); \
	if [ -n "$$out" ]; then echo "format-check: not clang-formatted:"; echo "$$out"; exit 1; fi; \
	echo "format-check: ok"

# Rewrites the configuration key list of each man page from the programs' key tables.
man: $(PROG_BINS)
	tools/mankeys.sh $(BIN) $(MAN_PAGES)

# The production programs, their man pages and the migrations (which the installed programs find
# in ../share/tmprov/migrations beside their own folder) and schemas.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tmprov/migrations \
	  $(DESTDIR)$(PREFIX)/share/tmprov/schemas $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(INSTALL_PROGS:%=$(BIN)/%) $(DESTDIR)$(PREFIX)/bin/
	$(if $(filter %.1,$(MAN_PAGES)),install -m 0644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man1/)
	$(if $(filter %.8,$(MAN_PAGES)),install -m 0644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man8/)
	install -m 0644 migrations/*.sql $(DESTDIR)$(PREFIX)/share/tmprov/migrations/
	cp -R schemas/. $(DESTDIR)$(PREFIX)/share/tmprov/schemas/

# The development tools: the TM simulator, the development broker and the benchmark.
install-devtools: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/tmprov/bench
	install -m 0755 $(DEVTOOL_PROGS:%=$(BIN)/%) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 tools/bench/report.py $(DESTDIR)$(PREFIX)/share/tmprov/bench/

clean:
	rm -rf build build-san build-tsan build-fuzz bin

-include $(COMMON_OBJ:.o=.d) $(SUPPORT_SRC:%.c=$(BUILD)/%.d) $(UNIT_SRC:%.c=$(BUILD)/%.d) \
	 $(INTEG_SRC:%.c=$(BUILD)/%.d) $(FAULT_SRC:%.c=$(BUILD)/%.d) $(PROG_SRC:%.c=$(BUILD)/%.d)
