"""Base data (基础数据) collected door to door (入户采集): residents, houses and organisations
(a documented subset of GB/T 31000's population, house and organisation items), and the grid
workers' visits (入户走访). Filled from verified ``collect`` / ``visit`` device events
(``flows``), read through graded access (``hub.privacy``), kept for set periods
(``retention``). See docs/basedata.md."""
