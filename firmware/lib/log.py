# Tiny levelled logger: one line per record, "ts level name msg", to stdout.
#   log = getLogger("mqtt"); log.info("connected to %s:%d", host, port)
# The level is global (set_level("debug") or set_level(config["log_level"])).
import sys
import time

DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40
_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}
_LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR}

_level = INFO
_loggers = {}


def set_level(level):
    # Set the global level from a number or a name ("debug", "info", "warning", "error").
    global _level
    if isinstance(level, str):
        try:
            level = _LEVELS[level.lower()]
        except KeyError:
            raise ValueError("log level %r" % level)
    _level = level


def _now():
    try:
        ms = time.time_ns() // 1000000
    except AttributeError:  # pragma: no cover - ports without time_ns
        ms = int(time.time()) * 1000
    return "%d.%03d" % (ms // 1000, ms % 1000)


class Logger:
    def __init__(self, name):
        self.name = name

    def log(self, level, msg, *args):
        if level < _level:
            return
        if args:
            try:
                msg = msg % args
            except (TypeError, ValueError):
                msg = "%s %r" % (msg, args)
        sys.stdout.write("%s %s %s %s\n" % (_now(), _NAMES.get(level, level), self.name, msg))

    def debug(self, msg, *args):
        if _level <= DEBUG:
            self.log(DEBUG, msg, *args)

    def info(self, msg, *args):
        self.log(INFO, msg, *args)

    def warning(self, msg, *args):
        self.log(WARNING, msg, *args)

    def error(self, msg, *args):
        self.log(ERROR, msg, *args)

    def exc(self, e, msg, *args):
        # Log msg at ERROR and the exception's traceback.
        self.log(ERROR, msg, *args)
        try:
            sys.print_exception(e)
        except AttributeError:  # CPython
            import traceback

            traceback.print_exception(e)


def getLogger(name):
    lg = _loggers.get(name)
    if lg is None:
        lg = _loggers[name] = Logger(name)
    return lg
