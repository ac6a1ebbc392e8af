"""The `footfall` command line: argument parsing and presentation only (`app`), and the terminal progress bar."""
