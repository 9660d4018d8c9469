/*
 * panel.c — the panel types Lumi knows (see panel.h).
 */
#include "panels/panel.h"

#include <string.h>

const struct panel_ops *panel_ops_for(const char *type)
{
    static const struct panel_ops *const all[] = {&panel_pterodactyl, &panel_directadmin,
                                                  &panel_virtfusion};
    for (size_t i = 0; type != NULL && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->type, type) == 0)
            return all[i];
    return NULL;
}
