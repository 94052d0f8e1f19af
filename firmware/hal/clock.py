"""Device clock: Unix seconds (UTC) plus a configured offset (clock skew, or an RTC
correction on a board)."""

import time


class Clock:
    def __init__(self, offset_s=0):
        self.offset_s = int(offset_s)

    def time(self):
        return int(time.time()) + self.offset_s

    def ticks_ms(self):
        return time.ticks_ms()
