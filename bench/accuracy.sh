#!/usr/bin/env bash
# Test RMSE of the automatic default against the baselines and the autoencoder
# presets, each data set × model over several seeds (mean ± sample std),
# every run an ordinary `aerec train` command (printed before it runs).
#
#   bench/accuracy.sh [SEEDS] [SETS] [MODELS]
#   e.g. bench/accuracy.sh "1 2 3 4" "u1 mlsmall synth" "default,svdpp,mf,biases"
#
# Sets: u1 = ML-100K u1.base → u1.test (the seed draws the validation carve
# and the initialisation); mlsmall = ml-latest-small, random 90/10 split of
# that seed; synth = `aerec synth --shape custom` (2,000 users × 1,500 items
# × 60,000 ratings, generated with that seed; its own train/test files).
# MODELS (comma-separated names from the table below) runs only those; the
# table is printed from every result file present, so runs can be split.
# Raw JSON lines go to target/accuracy/; the markdown table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-"1 2 3 4"}
SETS=${2:-"u1 mlsmall synth"}
ONLY=${3:-}
DATA=${AEREC_DATA:-../shared/data}
OUT=target/accuracy
mkdir -p "$OUT"
cargo build --release --quiet
AEREC=./target/release/aerec

data_flags() { # set seed
    case $1 in
        u1) echo "--data $DATA/ml-100k/u.data --method ml100k-u1 --seed $2" ;;
        mlsmall) echo "--data $DATA/ml-latest-small/ratings.csv --seed $2" ;;
        synth)
            local dir=$OUT/synth-$2
            [ -f "$dir/train.csv" ] || "$AEREC" synth --shape custom --users 2000 --items 1500 \
                --ratings 60000 --seed "$2" --out "$dir" --quiet >/dev/null
            echo "--train $dir/train.csv --test $dir/test.csv --seed $2" ;;
    esac
}

MODELS=("default|" "svdpp|--model svdpp" "mf|--model mf" "biases|--model biases"
        "autorec preset|--preset autorec" "residual autorec|--preset autorec --residual")

for set in $SETS; do
    for m in "${MODELS[@]}"; do
        name=${m%%|*}; flags=${m#*|}
        if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then continue; fi
        file="$OUT/$set-${name// /-}.jsonl"
        : > "$file"
        for seed in $SEEDS; do
            cmd="$AEREC train $(data_flags "$set" "$seed") $flags --k 0 --json --quiet"
            echo "$cmd" >&2
            $cmd >> "$file"
        done
    done
done

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); load: $(uptime | sed 's/.*load average: //'); seeds: $SEEDS"
echo
echo "| data | model | test RMSE mean ± std | runs | train s (mean) |"
echo "| --- | --- | ---: | ---: | ---: |"
for set in $SETS; do
    for m in "${MODELS[@]}"; do
        name=${m%%|*}
        [ -s "$OUT/$set-${name// /-}.jsonl" ] || continue
        jq -rs --arg set "$set" --arg name "$name" '
            (map(.test_rmse)) as $r | ($r | length) as $n | ($r | add / $n) as $mean
            | (if $n > 1 then ($r | map((. - $mean) * (. - $mean)) | add / ($n - 1) | sqrt) else 0 end) as $sd
            | (map(.auto.seconds // .train_seconds) | add / $n) as $secs
            | "| \($set) | \($name) | \($mean * 10000 | round / 10000) ± \($sd * 10000 | round / 10000) | \($n) | \($secs * 10 | round / 10) |"' \
            "$OUT/$set-${name// /-}.jsonl"
    done
done
