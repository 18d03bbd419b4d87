/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bad_monitor.C - uses a PARMACS monitor, which cannot map onto libdsm:
 * m4 with c.m4.dsm must stop with an error that names MENTER.
 */
MAIN_ENV

int main(void)
{
	MAIN_INITENV(,1000000)
	MENTER(mon)
	MEXIT(mon)
	MAIN_END
}
