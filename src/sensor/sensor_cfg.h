/* sensor_cfg.h - building the data detectors' configuration tree (engine/config.c, --set). */
#ifndef MQTTIDS_SENSOR_CFG_H
#define MQTTIDS_SENSOR_CFG_H

#include <cjson/cJSON.h>

/* Remembers where node came from ("FILE:LINE:COL") for scfg_where. */
void scfg_set_origin(const cJSON *node, const char *where);
/* Drops every remembered origin (the tree is being freed). */
void scfg_forget_origins(void);
/* Sets dotted key below root to the string val; 0, or -1 (not an object path). */
int scfg_set_path(cJSON *root, const char *key, const char *val, const char *where);
/* "600", "90s", "10m", "2h", "1d", "250ms" in seconds; 0 or -1. */
int scfg_parse_dur(const char *s, double *out);

#endif
