from vision.cli.app import app

app(prog_name="footfall")
