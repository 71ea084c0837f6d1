.PHONY: run test setup bench-smoke
run:   ## prepare everything, load demo data, serve web + worker + beat (Ctrl-C stops)
	bash scripts/run.sh
test:  ## prepare everything and run the whole test suite
	bash scripts/test.sh
setup: ## only the virtualenv, PostgreSQL and Redis
	bash scripts/setup.sh
