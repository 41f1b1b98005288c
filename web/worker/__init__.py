"""`robodine worker`: runs the jobs, the outbound webhooks and the jobs' SQL history."""
