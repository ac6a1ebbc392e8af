"""What users write: the site config (`site`), the calibration file (`calibration_file`), their one-line problems
(`problems`), and the domain objects built from them (`build`). Never imports the runtime."""
