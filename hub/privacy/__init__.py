"""Personal data protection (分级准入): who may see which personal fields (``policy``), the
explicit grants that lift an account's grade (``grants``), and the stored access audit of every
read of personal data (``audit``). See docs/basedata.md."""
