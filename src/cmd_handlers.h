/*
 * Command handlers, grouped by family in cmd_keys.c, cmd_list.c and cmd_server.c; the
 * table in cmd.c is their only caller. Each is called with the arity already checked.
 */
#ifndef KV_CMD_HANDLERS_H
#define KV_CMD_HANDLERS_H

#include "cmd.h"

#define CMD_HANDLER(name) \
    void name(struct cmd_context *context, const struct slice *args, uint32_t arg_count)

CMD_HANDLER(cmd_get);
CMD_HANDLER(cmd_set);
CMD_HANDLER(cmd_del);
CMD_HANDLER(cmd_exists);

CMD_HANDLER(cmd_lpush);
CMD_HANDLER(cmd_rpush);
CMD_HANDLER(cmd_lrange);
CMD_HANDLER(cmd_llen);
CMD_HANDLER(cmd_lpop);
CMD_HANDLER(cmd_rpop);

CMD_HANDLER(cmd_ping);
CMD_HANDLER(cmd_echo);
CMD_HANDLER(cmd_quit);
CMD_HANDLER(cmd_config);
CMD_HANDLER(cmd_command);
CMD_HANDLER(cmd_info);

/* Most elements an array reply of LRANGE or LPOP/RPOP with a count can hold, judged from
 * the arguments alone (no lookup); list_length_max when they do not narrow it. */
uint32_t cmd_lrange_elements_max(const struct slice *args, uint32_t arg_count,
                                 uint32_t list_length_max);
uint32_t cmd_pop_elements_max(const struct slice *args, uint32_t arg_count,
                              uint32_t list_length_max);

/* Commands in the table (COMMAND COUNT). */
uint32_t cmd_table_count(void);

/* Compares an argument with a lower-case word, ignoring the argument's case. */
bool cmd_arg_is(struct slice arg, const char *word);

/* The store status of a failed write, as its Redis or kv error. */
enum reply_error cmd_store_error(enum store_status status);

#endif
