from vision.cli import app

app(prog_name="footfall")
