"""Quality reviews of consented call recordings: a form of weighted criteria, one review per
recording and reviewer, results per operator and period, each operator's own reviews to read."""
