// The services the tests register, declared as an application declares its own (README, "The task
// context"): `ctx.cradle` is empty until then, so a name not declared here is a type error.
declare module '../../lib/index' {
  interface BackgroundCradle {
    connection: { id: number }
    greeting: string
    unit: number
    /** Scoped per run: an id in the task tests, a serial and a closed flag in the job tests. */
    session: { id: number, n: number, closed: boolean }
    conn: object
    db: object
    pool: { closed: boolean }
    good: object
    bad: object
    slowToClose: object
    /** A service whose disposer never settles; the handler marks it used. */
    stuck: { touched?: boolean }
  }
}

export {}
