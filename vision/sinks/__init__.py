"""Where results land: the `Sink` protocol (`base`), atomic files (`atomic`), the Parquet datasets (`parquet`),
the MOTChallenge export (`mot`) and heatmap pictures (`pictures`)."""
