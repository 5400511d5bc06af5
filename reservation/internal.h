/* internal.h — helpers shared by the files of reservation/ only. */
#ifndef GS_RESERVATION_INTERNAL_H
#define GS_RESERVATION_INTERNAL_H

#include "reservation.h"

const char *gs__disk_name(int disk);
const char *gs__mode_name(int mode);

#endif
