/* cmd.h - subcommands of the kumo binary, one file each (see src/kumo.c). */
#ifndef KUMO_CMD_H
#define KUMO_CMD_H

/* argv[0] is the subcommand name ("all", "identity", "manage"). */
int cmd_serve(int argc, char **argv);
int cmd_manage(int argc, char **argv);

#endif
