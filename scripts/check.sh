#!/usr/bin/env bash
# check.sh - the integration tests with every dhtregd node under valgrind memcheck: a node that
# reports any error or a definite leak fails its test (the harness reads the nodes' logs)
#
#   ./scripts/check.sh              every integration test but the two that cannot run slowed down
#   ./scripts/check.sh -R watch     extra ctest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
command -v valgrind >/dev/null || { echo "check.sh: valgrind is not installed" >&2; exit 1; }
./scripts/build.sh
export DR_NODE_WRAPPER="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --num-callers=30"
# test_churn (30 nodes) does not fit its deadlines when every node runs ~20x slower on two cores,
# test_gc measures RSS, which valgrind's own allocator makes meaningless, and test_burst (150 000
# requests a burst) and test_shards (20 000 records on 13 nodes) take minutes under valgrind for
# what the ASan run already covers; so do test_persist (kill -9 in a loop, 60 s), test_flags (~40
# daemons that refuse to start), test_service (systemd's side and a stop's 2 s bound), test_stress
# (thousands of pipelined calls and a stop under load), test_lease (lifetimes measured to the
# tens of milliseconds), test_paging (30 s of walks while records move), test_bootstrap and
# test_clock (windows of seconds, a preloaded libfaketime), test_rpc_limits (the limits of
# the socket), test_watch (nine nodes and eight plain OpenDHT peers, on deadlines of events),
# test_lifecycle and test_checks (lifetimes of seconds, programs run as checks), each run plain
# and under ASan: the suite stays within ten minutes
cd build
# three at a time: the tests mostly wait on their nodes, so three share the two cores without missing deadlines
ctest -L integration -E 'test_churn|test_gc|test_burst|test_shards|test_persist|test_flags|test_service|test_stress|test_lease|test_paging|test_bootstrap|test_clock|test_rpc_limits|test_watch|test_lifecycle|test_checks' --output-on-failure --timeout 1200 -j 3 "$@"
