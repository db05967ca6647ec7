"""The stages of build-dataset, in the paper's order: one name each, shared by the flow and the CLI
(which checks `--until` before Prefect starts)."""

BUILD_STAGES = ("ingest", "patches", "degrade", "train-enhancers", "enhance", "select", "synthesize-lr", "annotate", "split", "maps")
