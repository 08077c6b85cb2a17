from sigattn.cli import app

app(prog_name="sigattn")
