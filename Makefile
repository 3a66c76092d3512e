# mdm: one non-recursive build. Release objects in build/rel, sanitized (tests) in build/san.
# Modules are discovered by wildcard: adding a .c (or a C++ shim .cc) needs no edit here.

PKGS     ?= libpq icu-uc icu-i18n icu-io libpcre2-8 jansson libmicrohttpd libcurl libcrypto
CFLAGS   ?= -O2 -g
CXXFLAGS ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CXXWARN  := -Wall -Wextra -Werror -Wshadow -Wformat=2
PKGCFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CPPFLAGS := -I. -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(PKGCFLAGS)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lphonenumber -lstdc++ -lpthread -lm
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
PREFIX   ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR  ?= $(PREFIX)/lib/systemd/system

SRC      := $(wildcard common/*.c matching/*.c mdm/*.c stewardship/*.c api/*.c)
CXXSRC   := $(wildcard matching/*.cc)
LIBSRC   := $(filter-out api/main.c,$(SRC))
LIBOBJ_REL := $(LIBSRC:%.c=build/rel/obj/%.o) $(CXXSRC:%.cc=build/rel/obj/%.o)
LIBOBJ_SAN := $(LIBSRC:%.c=build/san/obj/%.o) $(CXXSRC:%.cc=build/san/obj/%.o)
UNIT     := $(patsubst tests/unit/%.c,build/san/tests/%,$(wildcard tests/unit/*.c))
ITEST    := $(patsubst tests/integration/%.c,build/san/itests/%,$(wildcard tests/integration/*.c))
RTEST    := $(patsubst tests/reliability/%.c,build/san/rtests/%,$(wildcard tests/reliability/test_*.c))
BENCH    := $(patsubst tests/bench/%.c,build/rel/%,$(wildcard tests/bench/*.c))

all: build/rel/mdm

# mdm version reports libphonenumber's version (it has no runtime version call).
PHONENUMBER_VERSION := $(shell dpkg-query -W -f='$${Version}' libphonenumber-dev 2>/dev/null)
build/rel/obj/api/cli_admin.o build/san/obj/api/cli_admin.o: \
	CPPFLAGS += -DMDM_PHONENUMBER_VERSION='"$(PHONENUMBER_VERSION)"'

build/rel/obj/%.o: %.c
	@mkdir -p $(@D) && $(CC) -std=c11 $(WARN) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
build/san/obj/%.o: %.c
	@mkdir -p $(@D) && $(CC) -std=c11 $(WARN) $(CPPFLAGS) -O1 -g $(SAN) -MMD -MP -c $< -o $@
build/rel/obj/%.o: %.cc
	@mkdir -p $(@D) && $(CXX) -std=c++17 $(CXXWARN) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@
build/san/obj/%.o: %.cc
	@mkdir -p $(@D) && $(CXX) -std=c++17 $(CXXWARN) $(CPPFLAGS) -O1 -g $(SAN) -MMD -MP -c $< -o $@

build/rel/libmdm.a: $(LIBOBJ_REL)
	@rm -f $@ && ar rcs $@ $^
build/san/libmdm.a: $(LIBOBJ_SAN)
	@rm -f $@ && ar rcs $@ $^

build/rel/mdm: build/rel/obj/api/main.o build/rel/libmdm.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@
build/san/mdm: build/san/obj/api/main.o build/san/libmdm.a
	$(CC) $(SAN) $^ $(LDLIBS) -o $@
build/san/tests/%: build/san/obj/tests/unit/%.o build/san/libmdm.a
	@mkdir -p $(@D) && $(CC) $(SAN) $^ $(LDLIBS) -o $@
build/san/itests/%: build/san/obj/tests/integration/%.o build/san/libmdm.a
	@mkdir -p $(@D) && $(CC) $(SAN) $^ $(LDLIBS) -o $@
build/san/rtests/%: build/san/obj/tests/reliability/%.o build/san/libmdm.a
	@mkdir -p $(@D) && $(CC) $(SAN) $^ $(LDLIBS) -o $@
build/rel/bench_%: build/rel/obj/tests/bench/bench_%.o build/rel/libmdm.a
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@
# The webhook receiver of the publishing tests and benchmark: on its own, no libmdm.
build/san/mdm-test-receiver: build/san/obj/tests/receiver/receiver.o
	$(CC) $(SAN) $^ $(LDLIBS) -o $@
build/rel/mdm-test-receiver: build/rel/obj/tests/receiver/receiver.o
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# The man page and bash completion, generated from the binary's own --help.
build/rel/mdm.1: build/rel/mdm scripts/cli-docs.sh
	@scripts/cli-docs.sh man build/rel/mdm $@
build/rel/mdm.bash-completion: build/rel/mdm scripts/cli-docs.sh
	@scripts/cli-docs.sh completion build/rel/mdm $@
CLIDOCS := build/rel/mdm.1 build/rel/mdm.bash-completion

deps:
	@scripts/deps.sh

# test and run re-enter make after deps so pkg-config is read with the packages present.
test check: deps
	@$(MAKE) --no-print-directory test-all
test-all: $(UNIT) $(ITEST) $(RTEST) build/san/mdm build/rel/mdm build/san/mdm-test-receiver $(CLIDOCS)
	@tests/run.sh
unit: $(UNIT)
	@tests/run.sh --unit

run demo: deps
	@$(MAKE) --no-print-directory build/rel/mdm
	@scripts/run.sh

migrate: build/rel/mdm
	@scripts/run.sh --migrate-only

bench: $(BENCH) build/rel/mdm build/rel/mdm-test-receiver
	@scripts/bench.sh

bench-quality: build/rel/mdm
	@scripts/bench.sh --quality

# mdm finds share/mdm/sql and share/mdm/ui beside its bin/ folder (mdm/config.h), so
# an installed tree works wherever it is copied (DESTDIR included).
install: build/rel/mdm $(CLIDOCS)
	install -D -m 0755 build/rel/mdm $(DESTDIR)$(PREFIX)/bin/mdm
	install -d $(DESTDIR)$(PREFIX)/share/mdm/sql $(DESTDIR)$(PREFIX)/share/mdm/ui
	install -m 0644 sql/*.sql $(DESTDIR)$(PREFIX)/share/mdm/sql/
	cp -R api/ui/. $(DESTDIR)$(PREFIX)/share/mdm/ui/
	install -D -m 0644 build/rel/mdm.1 $(DESTDIR)$(PREFIX)/share/man/man1/mdm.1
	install -D -m 0644 build/rel/mdm.bash-completion \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mdm
	install -d $(DESTDIR)$(UNITDIR)
	for u in dist/systemd/*.service; do \
	    sed -e 's|@BINDIR@|$(PREFIX)/bin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
	        >$(DESTDIR)$(UNITDIR)/$${u##*/} && chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/}; \
	done
uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/mdm $(DESTDIR)$(PREFIX)/share/mdm \
	    $(DESTDIR)$(PREFIX)/share/man/man1/mdm.1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mdm \
	    $(DESTDIR)$(UNITDIR)/mdm.service $(DESTDIR)$(UNITDIR)/mdm-publish.service

# cppcheck does not read jansson's header: scripts/cppcheck-jansson.cfg describes its macros.
# ctuuninitvar is off: its cross-file pass takes output parameters (filled by the callee,
# e.g. mdm_audit_verify's `out`) for reads of uninitialized memory.
CPPCHECK_DEFS = --library=scripts/cppcheck-jansson.cfg --suppress=ctuuninitvar
FORMAT_FILES = $(shell find common matching mdm stewardship api tests -name '*.[ch]' -o -name '*.cc')
format:
	clang-format -i $(FORMAT_FILES)
# deps-check reads the release objects: dependencies point down the layers, and the files
# of common/, matching/, mdm/ and stewardship/ never depend on each other in a circle; sql-check: api/
# runs no SQL; owner-check: tables are written by their owners (docs/ARCHITECTURE.md).
lint: $(LIBOBJ_REL) build/rel/obj/api/main.o
	scripts/deps-check.sh build/rel/obj
	scripts/sql-check.sh
	scripts/owner-check.sh
	clang-format --dry-run -Werror $(FORMAT_FILES)
	clang-tidy --quiet $(SRC) -- -std=c11 $(CPPFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --suppress=missingIncludeSystem -I. $(CPPCHECK_DEFS) $(SRC)

fuzz:
	@scripts/fuzz.sh

# The reliability suites in their long form (MDM_SOAK=1: longer load, more rounds;
# MDM_LOAD_SECONDS bounds each load phase). multi.sh needs the webhook receiver.
soak: deps
	@$(MAKE) --no-print-directory $(RTEST) build/san/mdm build/rel/mdm build/san/mdm-test-receiver
	@MDM_SOAK=1 tests/run.sh --reliability

clean:
	rm -rf build
distclean: clean
	-@scripts/pg.sh stop 2>/dev/null
	rm -rf var

.PHONY: all deps test check test-all unit run demo bench bench-quality migrate install uninstall \
	format lint fuzz soak clean distclean
.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)
