#!/bin/sh
# Submits N idbatch workers as one AWS Batch array job (job-definition.json
# registered first:
#   aws batch register-job-definition --cli-input-json file://job-definition.json).
# Each child gets AWS_BATCH_JOB_ARRAY_INDEX (0…N-1): its worker name w<index>
# labels its part files and log lines. All children share one PostgreSQL
# Store and its account-wide API budget (README "Scale out").
#
#   N=4 JOB_QUEUE=idbatch ./submit-array-job.sh
#
# The same as: aws batch submit-job --cli-input-json file://submit-job.json
set -eu
N=${N:-4}
JOB_QUEUE=${JOB_QUEUE:-idbatch}
JOB_DEFINITION=${JOB_DEFINITION:-idbatch-run}
JOB_NAME=${JOB_NAME:-idbatch-$(date -u +%Y%m%dT%H%M%SZ)}

case $N in
'' | *[!0-9]*) echo "N must be a number, not '$N'" >&2; exit 2 ;;
esac
if [ "$N" -lt 1 ] || [ "$N" -gt 10000 ]; then
	echo "N must be 1…10000" >&2
	exit 2
fi
if [ "$N" -eq 1 ]; then
	# An array job has at least 2 children; one worker is a plain job (index 0).
	exec aws batch submit-job --job-name "$JOB_NAME" --job-queue "$JOB_QUEUE" --job-definition "$JOB_DEFINITION"
fi
exec aws batch submit-job --job-name "$JOB_NAME" --job-queue "$JOB_QUEUE" --job-definition "$JOB_DEFINITION" \
	--array-properties "size=$N"
