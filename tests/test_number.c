/*
 * number: Redis's readers of integers and doubles, accepting and refusing what Redis does.
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "number.h"

static bool parse_double(const char *text, double *value)
{
    return number_parse_double((const uint8_t *)text, (uint32_t)strlen(text), value);
}

/* getDoubleFromObject: the whole text, strtod's forms, no NaN, no range error. */
static void test_double(void)
{
    static const struct {
        const char *text;
        bool accepted;
        double value;
    } cases[] = {
        {"1.5", true, 1.5},      {"-3", true, -3},        {"0", true, 0},
        {"+2", true, 2},         {"1e3", true, 1000},     {"0x10", true, 16},
        {"inf", true, INFINITY}, {"-inf", true, -INFINITY}, {".5", true, 0.5},
        {"", false, 0},          {" 1", false, 0},        {"1 ", false, 0},
        {"1x", false, 0},        {"nan", false, 0},       {"1e400", false, 0},
        {"-1e400", false, 0},    {"1e-400", false, 0},    {"abc", false, 0},
    };
    /* Bounded by the table. */
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        double value = -42;
        bool accepted = parse_double(cases[index].text, &value);
        CHECK(accepted == cases[index].accepted);
        CHECK(!accepted || value == cases[index].value);
        CHECK(accepted || value == -42); /* a refusal writes nothing */
    }
    /* A NUL inside is refused, as Redis's C string would end there. */
    double value = 0;
    CHECK(!number_parse_double((const uint8_t *)"1\0" "2", 3, &value));
    /* The longest text read, and one byte past it. */
    char digits[NUMBER_DOUBLE_BYTES + 1];
    memset(digits, '1', sizeof(digits));
    digits[0] = '0';
    digits[1] = '.';
    CHECK(number_parse_double((const uint8_t *)digits, NUMBER_DOUBLE_BYTES - 1, &value));
    CHECK(value > 0.1 && value < 0.2);
    CHECK(!number_parse_double((const uint8_t *)digits, NUMBER_DOUBLE_BYTES, &value));
}

/* string2ll: an optional '-', digits without a leading zero, within int64. */
static void test_int64(void)
{
    static const struct {
        const char *text;
        bool accepted;
        int64_t value;
    } cases[] = {
        {"0", true, 0},   {"-1", true, -1},  {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},   {"01", false, 0}, {"+1", false, 0},
        {"-0", false, 0}, {"", false, 0},    {" 1", false, 0}, {"1.0", false, 0},
    };
    /* Bounded by the table. */
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        int64_t value = 0;
        const char *text = cases[index].text;
        bool accepted = number_parse_int64((const uint8_t *)text, (uint32_t)strlen(text), &value);
        CHECK(accepted == cases[index].accepted);
        CHECK(!accepted || value == cases[index].value);
    }
}

int main(void)
{
    test_double();
    test_int64();
    return check_exit("test_number");
}
