"""Real-board peripherals (the only HAL module that imports `machine`).

A minimal, honest starting point: buttons on GPIO pins drive the same UI interface as the
simulator's ScriptUI (a menu: report / one-key report / verify / task), a battery read from an
ADC divider, and a screen that prints to the console until a display driver is added. Camera,
microphone and GPS drivers depend on the module fitted to the handheld; until one is chosen,
config selects "none" or "sim" for them (hal.drivers.DRIVERS lists what exists).

Video: no board camera driver exists, so a board records none. The path for one is a camera
module that encodes (a VP8/WebM or H.264/MP4 encoder chip) writing its file to flash in
chunks, behind the same record(path, seconds) -> (path, size, mime) as hal.sim.SimCamera; an
ESP32-class camera (OV2640 / OV5640 via the `camera` module) gives JPEG frames only, and an
MJPEG file made of them would be stored by the hub but not played by the console (browsers
play WebM and MP4 in <video>, not MJPEG). See docs/firmware.md, "Short video".
"""


class ButtonsUI:
    def __init__(self, pins, actions=("report", "one_key", "verify", "task")):
        import machine

        self.buttons = [machine.Pin(p, machine.Pin.IN, machine.Pin.PULL_UP) for p in pins]
        self.actions = actions

    def show(self, text):
        print(text)

    async def _press(self):
        import asyncio

        while True:
            for i, b in enumerate(self.buttons):
                if not b.value():
                    while not b.value():
                        await asyncio.sleep_ms(20)
                    return i
            await asyncio.sleep_ms(30)

    async def next_action(self):
        i = await self._press()
        return {"do": self.actions[i % len(self.actions)]}

    async def choose(self, prompt, options, context=None):
        self.show(prompt + " " + "/".join(options))
        i = await self._press()
        return options[i % len(options)]


class AdcBattery:
    def __init__(self, pin, full_mv=4200, empty_mv=3300, divider=2):
        import machine

        self.adc = machine.ADC(pin)
        self.full, self.empty, self.div = full_mv, empty_mv, divider

    def level(self):
        mv = self.adc.read_u16() * 3300 * self.div // 65535
        return max(0, min(100, (mv - self.empty) * 100 // (self.full - self.empty)))


def make(name, clock, cfg):
    b = cfg.get("board") or {}
    if name == "ui":
        return ButtonsUI(b.get("button_pins", (0, 1, 2, 3)))
    if name == "battery":
        return AdcBattery(b.get("battery_adc", 0))
    raise ValueError("no board driver for %s" % name)  # hal.build checks hal.drivers.DRIVERS first
