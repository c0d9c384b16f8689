// autocannon ships no types; the suite uses a small part of it.
declare module 'autocannon'
