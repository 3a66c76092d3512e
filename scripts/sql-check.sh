#!/usr/bin/env bash
# api/ runs no SQL (docs/ARCHITECTURE.md, Layers): handlers and commands call functions of
# mdm/ and stewardship/, which own the statements. Fails (exit 1) naming each line of api/
# that runs a statement, declares one, opens a transaction or holds SQL text.
# Composing module reads in one round trip (mdm_db_exec_pipeline with the modules' *_call
# functions) is allowed: the statements stay the modules'.
set -euo pipefail
cd "$(dirname "$0")/.."

calls='\bPQ(exec|execParams|prepare|execPrepared|sendQuery|sendQueryParams|sendPrepare|putCopyData|getCopyData)\b'
calls+='|\bmdm_db_(exec|exec_params|exec_paged|command|run_tx|copy[a-z_]*)\b|\bmdm_db_stmt\b'
text='"[^"]*\b(SELECT|INSERT INTO|DELETE FROM|UPDATE [a-z_]+ SET|BEGIN( ISOLATION| READ|;|")|COMMIT|ROLLBACK)\b'

found=$(grep -nE "$calls|$text" api/*.c api/*.h || true)
if [ -n "$found" ]; then
    echo "sql-check: api/ runs SQL; move it behind a function of mdm/ or stewardship/:"
    printf '  %s\n' "$found"
    exit 1
fi
