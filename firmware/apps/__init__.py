"""Device apps, one package per device kind; main.py picks one by config "app"."""
