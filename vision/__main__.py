from vision.cli.app import app, run_cli

run_cli(app)
